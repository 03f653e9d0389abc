"""Errors a user can act on: each carries one line naming the file or key and what is wrong."""


class KombatError(Exception):
    """Base class: the CLI prints the message on one line and exits non-zero."""


class ConfigError(KombatError):
    """A config key is unknown, mistyped or out of range."""


class DataError(KombatError):
    """An input file is missing, unreadable or inconsistent."""


class WeightsError(KombatError):
    """Backbone weights cannot be loaded."""


class DisplayError(KombatError):
    """A window is asked for where there is no screen to open it on."""
