"""Data errors. Meant to move into ppcls_hrnet/errors.py; re-exported from there later."""
import os
import traceback

from ..errors import HRNetError


class DataError(HRNetError):
    """A label list, image or dataset source that cannot be used; the message names it."""


class ImageError(DataError):
    """One image cannot be decoded or transformed. The dataset adds its path and
    label-list line, and may skip it (`skip_bad`): it is a per-item problem,
    never a configuration one."""


def describe_unexpected(err: BaseException) -> str:
    """One line for an exception that is not a DataError (a bug, an unforeseen
    input): "unexpected ZeroDivisionError: division by zero at transforms.py:12 (f)"."""
    where = ""
    frames = traceback.extract_tb(err.__traceback__)
    if frames:
        frame = frames[-1]
        where = f" at {os.path.basename(frame.filename)}:{frame.lineno} ({frame.name})"
    text = " ".join(str(err).split())  # one line
    return f"unexpected {type(err).__name__}" + (f": {text}" if text else "") + where
