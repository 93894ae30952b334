"""Turning user errors into the one line the CLI prints."""

from __future__ import annotations

import argparse
import os
import pickle
import re
import sys
import zipfile
from typing import NoReturn

import yaml
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.cli import LightningArgumentParser

from benign.cli_args import SHORT_NAMES
from benign.errors import BenignError, first_line
from benign.preflight import checkpoint_misfit, unreadable_checkpoint


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


def condense_parser_message(message: str) -> str:
    """Turn jsonargparse's nested, multi-line message into one line that names the fix."""
    text = str(message)
    key_match = re.search(r'Parser key "([^"]+)"', text)
    key = key_match.group(1) if key_match else None
    given = re.search(r"^\s*Given value: (.*)$", text, re.M)
    option = re.search(r"Option '([^']+)' is not accepted", text)
    inner = re.search(
        r"(unknown option|missing required option|unknown class \S+ for) --([\w.]+): ", text
    )
    if inner and key:  # a nested parser's message, condensed already: prefix our key
        kind, name = inner.groups()
        if kind.startswith("unknown class"):
            return f"{kind} --{key}.{name}: {_class_hint(name)}"
        class_path = re.search(r"Problem with given class_path '([^']+)'", text)
        where = f"{key.split('.')[0]}.help {class_path.group(1) if class_path else 'CLASS'}"
        fix = "check its spelling" if kind == "unknown option" else "set it"
        return f"{kind} --{key}.{name}: {fix} (`benign fit --{where}` lists the valid keys)"
    plain = re.fullmatch(
        r'Parser key "([\w.]+)":\s*Expected a <class \'(\w+)\'>\. Got value: (.*)', text.strip()
    )
    if plain:  # the innermost parser's own message: already clear, one line
        name, wanted, value = plain.groups()
        return f"invalid value for --{name}: {value} (expected {wanted})"
    nested_message = _nested_class_message(text, key)
    if nested_message:
        return nested_message
    not_found = re.search(r"(?:has no attribute|No module named) '[^']+'", text)
    value = re.search(r"Got value: (\S+)$", text) or re.search(
        r"Expected a path but (\S+) either", text
    )
    if not_found and key and value:
        return f"unknown class {value.group(1)} for --{key}: {_class_hint(key)}"
    required = re.search(r"the following arguments are required: ([\w.]+(?:, [\w.]+)*)", text)
    if required:
        return _missing_options(
            required.group(1).split(", "), re.findall(r'Parser key "([^"]+)"', text)
        )
    if option:
        nested = re.search(r"NestedArg\(key='([^']+)'", text)
        name = f"{key}.{nested.group(1) if nested else option.group(1)}" if key else option.group(1)
        where = key.split(".")[0] if key else "model"
        return f"unknown option --{name}: check its spelling (`benign fit --{where}.help CLASS` lists the valid keys)"
    import_path = re.search(r"Expected a dot import path string: (\S+)", text)
    if import_path and key:
        # A nested parser names its own key (``backbone`` inside ``--model``).
        registry = SHORT_NAMES.get(key) or SHORT_NAMES.get(f"model.{key}")
        hint = (
            f"use one of {', '.join(registry)}, a class name "
            f"({', '.join(path.rsplit('.', 1)[1] for path in registry.values())}) or a class path"
            if registry
            else "give an importable class path"
        )
        return f"unknown --{key} {import_path.group(1)!r}: {hint}"
    if text.startswith("unrecognized arguments"):
        return f"{text.strip()}: check the spelling (`benign fit --help` lists the options)"
    if key and given:
        return f"invalid value for --{key}: {given.group(1)} (expected {_expected(text)})"
    lines = [line.strip(" -") for line in text.splitlines() if line.strip(" -")]
    return "; ".join(lines) if lines else "invalid arguments"


def _expected(text: str) -> str:
    """What a Union of types and Literals in jsonargparse's message accepts, e.g. ``int or null``
    or ``one of 64, 32, 'bf16-mixed' or null``."""
    expected = re.findall(r"Expected a <class '(\w+)'>", text)
    choices = [
        value.strip()
        for literal in re.findall(r"Expected a typing\.Literal\[(.*)\]", text)
        for value in literal.split(",")
    ]
    named = [e.replace("NoneType", "null") for e in dict.fromkeys(expected)]
    if choices:
        named = [f"one of {', '.join(choices)}", *named]
    return " or ".join(named) or "another value"


def _nested_class_message(text: str, key: str | None) -> str | None:
    """A class's own message (its parser's, already one line) under the option that holds it:
    ``invalid value for --noise_seed: abc`` inside ``--data`` becomes ``--data.noise_seed``."""
    if not key:
        return None
    found = re.search(r"Problem with given class_path '([^']+)':\n\s*(.+)", text)
    if not found:  # a class given as a callable (a backbone): its parser's message inside
        inner_value = re.search(r"(invalid value for --[\w.]+: .*? \(expected [^)]*\))", text)
        if inner_value is None:
            return None
        found_inner = inner_value.group(1)
        option = re.search(r"--([\w.]+)", found_inner)
        return found_inner.replace(f"--{option.group(1)}", f"--{key}.{option.group(1)}", 1)
    class_path, inner = found.group(1), found.group(2).strip()
    plain = re.fullmatch(
        r'Parser key "([\w.]+)":;? Expected a <class \'(\w+)\'>\. Got value: (.*)', inner
    )
    if plain:
        name, wanted, value = plain.groups()
        inner = f"invalid value for --{name}: {value} (expected {wanted})"
    option = re.search(r"--([\w.]+)", inner)
    if option is None:
        return None
    if key.endswith("callbacks"):  # a list of classes: say which one
        where = f" (in {class_path.rsplit('.', 1)[-1]} of --{key})"
        return inner.replace(f"--{option.group(1)}", f"--{option.group(1)}{where}", 1)
    return inner.replace(f"--{option.group(1)}", f"--{key}.{option.group(1)}", 1)


#: An example class path per config key, for "unknown class" messages.
CLASS_EXAMPLES = {
    "backbone": "benign.models.DigitsCNN",
    "attack": "benign.attacks.PGD",
    "optimizer": "torch.optim.SGD",
    "lr_scheduler": "torch.optim.lr_scheduler.StepLR",
}


def _class_hint(key: str) -> str:
    example = CLASS_EXAMPLES.get(key.split(".")[-1])
    return "give an importable class path" + (f", e.g. {example}" if example else "")


def _missing_options(names: list[str], keys: list[str]) -> str:
    if keys:  # an argument of a class given in config, e.g. a backbone's
        options = ", ".join(f"--{'.'.join([*keys, name])}" for name in names)
        return f"missing required option {options}: set it (`benign fit --{keys[0]}.help CLASS` lists the options)"
    options = ", ".join(
        "--" + (n.split(".", 1)[1] if n.split(".")[0] in SUBCOMMANDS else n) for n in names
    )
    return f"missing required option {options}: pass --config CONFIG (e.g. a run's config.yaml) or set them"


SUBCOMMANDS = ("fit", "validate", "test", "predict")


def check_config_files(argv: list[str]) -> None:
    """Fail early, naming the file, on a ``--config`` file that is not valid YAML."""
    for path in _values_of(argv, "--config", "-c"):
        if not os.path.isfile(path):
            if path.endswith((".yaml", ".yml")):  # else maybe an inline YAML string
                raise CommandLineError(
                    f"config file {path} not found: check the path (e.g. configs/digits/erm.yaml)"
                )
            continue
        try:
            with open(path) as handle:
                content = yaml.safe_load(handle)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(err, "problem", None) or first_line(str(err))
            raise CommandLineError(
                f"config file {path} is not valid YAML ({problem}{where}): fix its syntax"
            ) from None
        if not isinstance(content, dict):
            what = "is empty" if content is None else f"holds a {type(content).__name__}"
            raise CommandLineError(
                f"config file {path} {what}, not a mapping of options: give sections such as "
                "trainer:, model:, data: (see configs/digits/erm.yaml)"
            )


def check_checkpoint_path(argv: list[str]) -> None:
    """Fail early on a ``--ckpt_path`` that names no file (``last``, ``best``, ``hpc`` excepted)."""
    for path in _values_of(argv, "--ckpt_path"):
        if (
            path not in ("last", "best", "hpc", "null", "")
            and "://" not in path
            and not os.path.isfile(path)
        ):
            raise CommandLineError(
                f"checkpoint {path} not found: give the path of a .ckpt file "
                "(runs/<run>/checkpoints/last.ckpt), or --ckpt_path last to resume the newest run"
            )


def checkpoint_error(error: BaseException, ckpt_path: str) -> BenignError | None:
    """A one-line error for a checkpoint that cannot be loaded into the configured model."""
    if isinstance(error, BenignError):  # already says what is wrong (e.g. benign.preflight's)
        return None
    for cause in _chain(error):
        text = str(cause)
        if isinstance(cause, RuntimeError) and "Error(s) in loading state_dict" in text:
            return checkpoint_misfit(ckpt_path, _state_dict_mismatch(text))
        if isinstance(cause, (pickle.UnpicklingError, EOFError, zipfile.BadZipFile)) or (
            isinstance(cause, RuntimeError) and "PytorchStreamReader" in text
        ):
            return unreadable_checkpoint(ckpt_path, cause)
    return None


def _state_dict_mismatch(text: str) -> str:
    """``"2 missing, 3 unexpected parameters"`` from ``load_state_dict``'s error message."""
    parts = []
    shapes = len(re.findall(r"size mismatch for", text))
    if shapes:
        parts.append(f"{shapes} parameters of another shape")
    for kind, pattern in (("missing", r"Missing key\(s\)"), ("unexpected", r"Unexpected key\(s\)")):
        found = re.search(pattern + r" in state_dict: (.*?)(?:\.\s|$)", text, re.S)
        if found:
            names = re.findall(r'"[^"]+"', found.group(1))
            parts.append(f"{len(names)} {kind}")
    return ", ".join(parts) or "other parameters"


def _values_of(argv: list[str], *flags: str) -> list[str]:
    """Every value given to one of ``flags`` (``--flag VALUE`` or ``--flag=VALUE``)."""
    values = []
    for i, arg in enumerate(argv):
        if arg in flags and i + 1 < len(argv):
            values.append(argv[i + 1])
        elif "=" in arg and arg.split("=", 1)[0] in flags:
            values.append(arg.split("=", 1)[1])
    return values


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
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


def exit_with_user_error(error: BaseException, status: int = 2) -> NoReturn:
    """Print ``benign: error: <one line>`` to stderr and exit with ``status``."""
    cause = user_error_of(error) or error
    sys.stderr.write(
        f"benign: error: {first_line(str(cause))} (rerun with --debug for the traceback)\n"
    )
    raise SystemExit(status)
