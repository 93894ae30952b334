"""User-facing errors.

Anything a user can get wrong (a config value, a missing dataset, an unknown name) raises a
:class:`BenignError` whose message is one line saying what is wrong and how to fix it. The CLI
prints that line and exits non-zero without a traceback (``--debug`` shows it).
"""


class BenignError(Exception):
    """Base class for errors caused by user input, reported as one line by the CLI."""


class ConfigError(BenignError, ValueError):
    """An invalid option value or combination of options."""


class DataNotFoundError(BenignError, FileNotFoundError):
    """A dataset that is neither on disk nor allowed to be downloaded."""
