"""Errors that the command line reports as one line and exit code 2."""


class CgpganError(Exception):
    """Base class of the errors a user can fix (bad config, data or run directory)."""


class ConfigError(CgpganError):
    """A configuration key is unknown or its value is out of range."""


class DataError(CgpganError):
    """The data cannot be read or has the wrong shape."""


class RunError(CgpganError):
    """A run directory is missing, incomplete or would be overwritten."""


class TrainingDiverged(CgpganError):
    """A loss or a weight became NaN or infinite."""
