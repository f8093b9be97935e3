"""Errors the user can act on. The CLI prints their message without a traceback."""


class HRNetError(Exception):
    """Base class: the message says what went wrong and how to fix it."""


class UnknownModelError(HRNetError, ValueError):
    pass


class WeightsError(HRNetError):
    """A weights file or URL that cannot be used (missing, corrupt, wrong model)."""


class ConfigError(HRNetError, ValueError):
    pass
