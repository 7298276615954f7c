"""The project's exceptions. The CLI turns each into a one-line message and exit code 2."""


class SpikekitError(ValueError):
    """Base class: something the user gave (data, checkpoint, config) is not usable, and why."""


class DataError(SpikekitError):
    """A data set is missing, unreadable or corrupt; the message names the file or sources tried."""


class CheckpointError(SpikekitError):
    """A checkpoint is missing, truncated, tampered with or of an unknown format version."""


class ConfigError(SpikekitError):
    """A configuration value is out of range; the message says which and what is allowed."""
