"""Named errors. Every one subclasses the built-in error a user would expect to catch."""


class NotCalibratedError(RuntimeError):
    """A selector was asked to decide before ``calibrate`` (or ``load``) gave it its state."""


class StateFileError(ValueError):
    """A state file is missing, truncated, corrupt, or written for another selector or format."""


class ModelMismatchError(ValueError):
    """A state file was calibrated on a model whose parameters differ from the one given."""


class ModelMismatchWarning(UserWarning):
    """Like :class:`ModelMismatchError`, raised as a warning when loading with ``strict=False``."""


class DatasetNotFoundError(FileNotFoundError):
    """A data set's files are not where the loader looked; the message names the fetch command."""


class CalibrationWarning(UserWarning):
    """Calibration finished, but some classes got no thresholds (their points are always kept)."""
