"""Turning user errors into the one line the CLI prints."""

from __future__ import annotations

import argparse
import re
import sys
from typing import NoReturn

from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.cli import LightningArgumentParser

from benign.errors import BenignError


class CommandLineError(BenignError, argparse.ArgumentError):
    """A parse error of the command line or a config file, condensed to one line."""

    def __init__(self, message: str) -> None:
        argparse.ArgumentError.__init__(self, None, message)

    def __str__(self) -> str:
        return self.message


class BenignArgumentParser(LightningArgumentParser):
    """LightningCLI's parser, raising :class:`CommandLineError` instead of printing usage."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        raise CommandLineError(condense_parser_message(message)) from ex


#: What ``--data`` / ``--model`` accept besides a class path, for the error message.
CHOICES: dict[str, str] = {}


def condense_parser_message(message: str) -> str:
    """Turn jsonargparse's nested, multi-line message into one line that names the fix."""
    text = str(message)
    key_match = re.search(r'Parser key "([^"]+)"', text)
    key = key_match.group(1) if key_match else None
    given = re.search(r"^\s*Given value: (.*)$", text, re.M)
    option = re.search(r"Option '([^']+)' is not accepted", text)
    if option:
        nested = re.search(r"NestedArg\(key='([^']+)'", text)
        name = f"{key}.{nested.group(1) if nested else option.group(1)}" if key else option.group(1)
        where = key.split(".")[0] if key else "model"
        return f"unknown option --{name}: check its spelling (`benign fit --{where}.help CLASS` lists the valid keys)"
    import_path = re.search(r"Expected a dot import path string: (\S+)", text)
    if import_path and key:
        choices = CHOICES.get(key)
        hint = f"use one of {choices} or a class path" if choices else "give an importable class path"
        return f"unknown --{key} {import_path.group(1)!r}: {hint}"
    if text.startswith("unrecognized arguments"):
        return f"{text.strip()}: check the spelling (`benign fit --help` lists the options)"
    if key and given:
        expected = re.findall(r"Expected a <class '(\w+)'>", text)
        wanted = " or ".join(e.replace("NoneType", "null") for e in dict.fromkeys(expected)) or "another value"
        return f"invalid value for --{key}: {given.group(1)} (expected {wanted})"
    lines = [line.strip(" -") for line in text.splitlines() if line.strip(" -")]
    return "; ".join(lines) if lines else "invalid arguments"


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
