"""Errors that the command line reports as one line and exit code 2."""


class CgpganError(Exception):
    """Base class of the errors a user can fix (bad config, data or run directory)."""


class ConfigError(CgpganError):
    """A configuration key is unknown or its value is out of range."""


class DataError(CgpganError):
    """The data cannot be read or has the wrong shape."""


class RunError(CgpganError):
    """A run directory is missing, incomplete or would be overwritten."""


class FailedOnMain(RunError):
    """What another process sees when rank 0 failed in multi-process training (rank 0
    reports the error itself)."""


class TrainingDiverged(CgpganError):
    """A loss or a weight became NaN or infinite."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training was stopped by SIGINT or SIGTERM. `train` fills in the run's `directory`
    and the `step` and JSON `checkpoint` it can resume from (None before any checkpoint).

    A KeyboardInterrupt, so that code which lets Ctrl-C through still does."""

    def __init__(self, signal_number: int):
        super().__init__(signal_number)
        self.signal_number = signal_number
        self.directory = None
        self.step: int | None = None
        self.checkpoint = None

    @property
    def exit_code(self) -> int:
        """128 + the signal's number: 130 for SIGINT, 143 for SIGTERM (the shell's)."""
        return 128 + self.signal_number


class RunExists(RunError):
    """A run directory already holds a run (resume it or replace it)."""

    def __init__(self, directory):
        super().__init__(
            f"{directory}: run directory exists; continue it with resume=True "
            "or replace it with overwrite=True"
        )
        self.directory = directory
