"""Data errors. Meant to move into ppcls_hrnet/errors.py; re-exported from there later."""
from ..errors import HRNetError


class DataError(HRNetError):
    """A label list, image or dataset source that cannot be used; the message names it."""


class ImageError(DataError):
    """One image cannot be decoded or transformed. The dataset adds its path and
    label-list line, and may skip it (`skip_bad`): it is a per-item problem,
    never a configuration one."""
