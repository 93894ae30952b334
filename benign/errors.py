"""User-facing errors, and the two helpers every layer uses to raise and report them.

Anything a user can get wrong (a config value, a missing dataset, an unknown name) raises a
:class:`BenignError` whose message is one line saying what is wrong and how to fix it. The CLI
prints that line and exits non-zero without a traceback (``--debug`` shows it).

This module imports nothing of benign, so every layer (attacks, models, data) may use it.
"""

from __future__ import annotations

from collections.abc import Sequence


class BenignError(Exception):
    """Base class for errors caused by user input, reported as one line by the CLI."""


class ConfigError(BenignError, ValueError):
    """An invalid option value or combination of options."""


class DataNotFoundError(BenignError, FileNotFoundError):
    """A dataset that is neither on disk nor allowed to be downloaded."""


def check_choice(
    name: str,
    value: object,
    choices: Sequence[str],
    *,
    owner: str = "",
    fix: str = "",
    ignore_case: bool = False,
) -> str:
    """Return ``value`` if it is one of ``choices``, else raise a one-line :class:`ConfigError`.

    The message reads ``[<owner>: ]unknown <name> <value>: use one of <choices><fix>``, e.g.
    ``unknown noise_type 'gauss': use one of symmetric, asymmetric (--data.noise_type)``.

    Args:
        name: the option as the user knows it (``noise_type``, ``--model``).
        value: the value given.
        choices: the accepted values.
        owner: who checks it (``benign bench``, ``PGD``), put before the message.
        fix: appended to the message, e.g. where to set the option.
        ignore_case: accept any case and return the value lower-cased.
    """
    if isinstance(value, str):
        given = value.lower() if ignore_case else value
        if given in choices:
            return given
    head = f"{owner}: " if owner else ""
    raise ConfigError(f"{head}unknown {name} {value!r}: use one of {', '.join(choices)}{fix}")


def first_line(message: BaseException | str) -> str:
    """The first non-empty line of a message, stripped: the one line of a one-line error.

    An exception with an empty message gives its type name; an empty string ``unknown error``.
    """
    for line in str(message).splitlines():
        if line.strip():
            return line.strip()
    return type(message).__name__ if isinstance(message, BaseException) else "unknown error"
