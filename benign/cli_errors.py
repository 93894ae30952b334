"""Turning user errors into the one line the CLI prints."""

from __future__ import annotations

import sys
from typing import NoReturn

from lightning.fabric.utilities.exceptions import MisconfigurationException

from benign.errors import BenignError


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def user_error_of(error: BaseException) -> BaseException | None:
    """The user-facing error in ``error``'s chain (a :class:`BenignError` first), or None."""
    chain = _chain(error)
    for candidate in chain:
        if isinstance(candidate, BenignError):
            return candidate
    for candidate in chain:
        if isinstance(candidate, MisconfigurationException):
            return candidate
    return None


def is_user_error(error: BaseException) -> bool:
    return user_error_of(error) is not None


def one_line(message: str) -> str:
    """Collapse a message to its first non-empty line."""
    for line in str(message).splitlines():
        if line.strip():
            return line.strip()
    return "unknown error"


def exit_with_user_error(error: BaseException, status: int = 2) -> NoReturn:
    """Print ``benign: error: <one line>`` to stderr and exit with ``status``."""
    cause = user_error_of(error) or error
    sys.stderr.write(f"benign: error: {one_line(str(cause))} (rerun with --debug for the traceback)\n")
    raise SystemExit(status)
