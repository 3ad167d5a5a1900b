"""Exceptions that carry a message meant for the user.

The CLI and the VapourSynth filter catch :class:`VidrestoreError` and print its
message on one line (exit code 2); anything else is a bug and keeps its traceback.
"""


class VidrestoreError(Exception):
    """Base class: a problem the user can fix (bad input, missing weights, bad config)."""


class InputError(VidrestoreError):
    """The input media or tensor cannot be used (missing, unreadable, unsupported)."""


class OutputError(VidrestoreError):
    """The output cannot be written (exists, unwritable, same as input)."""


class WeightsError(VidrestoreError):
    """A weights file is missing, corrupt, untrained or does not match the code."""


class ConfigError(VidrestoreError):
    """A configuration file or override is invalid (unknown key, wrong type)."""
