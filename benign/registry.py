"""Short names for the components users pick: one mechanism for datasets, backbones, methods and
experiments.

A :class:`Registry` maps the names people type (``digits``, ``digits_cnn``, ``at``,
``label-noise``) to the import path of what they name (``benign.data.DigitsDataModule``), the
form a YAML ``class_path`` takes. Nothing is imported until :meth:`Registry.load` asks for it, so
a registry can name classes of any layer without importing them. Class names
(``--model.backbone DigitsCNN``, ``--model TRADES``) need no registry: jsonargparse resolves them
among the subclasses of the annotated base class.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from benign.errors import ConfigError, check_choice


class Registry(MutableMapping[str, str]):
    """Short name -> import path (``package.module.Name``) of one kind of component.

    Args:
        kind: what the names name, for messages (``"dataset"``, ``"backbone"``...).
        entries: name -> import path, in the order help texts list them.
        case_sensitive: whether ``AT`` and ``at`` are different names (default: they are the same).
    """

    def __init__(self, kind: str, entries: Mapping[str, str], case_sensitive: bool = False) -> None:
        self.kind = kind
        self.case_sensitive = case_sensitive
        self._entries = dict(entries)
        self._by_key = {self._key(name): name for name in self._entries}

    def _key(self, name: str) -> str:
        return name if self.case_sensitive else name.lower()

    def __getitem__(self, name: str) -> str:
        return self._entries[self._by_key[self._key(name)]]

    def __setitem__(self, name: str, class_path: str) -> None:
        """Register ``name`` (a plugin, a test) for ``class_path`` (``package.module.Name``)."""
        if "." not in class_path:
            raise ConfigError(f"{self.kind} {name!r}: {class_path!r} is not a dotted import path")
        if name in self:
            del self[name]
        self._entries[name] = class_path
        self._by_key[self._key(name)] = name

    def __delitem__(self, name: str) -> None:
        canonical = self._by_key.pop(self._key(name))
        del self._entries[canonical]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) in self._by_key

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def canonical(self, name: str) -> str:
        """The registered spelling of ``name``; a :class:`ConfigError` listing the names if unknown."""
        if name not in self:
            check_choice(self.kind, name, list(self._entries))  # raises, one line
        return self._by_key[self._key(name)]

    def class_path(self, name: str) -> str:
        """The import path ``name`` stands for (:class:`ConfigError` if unknown)."""
        return self._entries[self.canonical(name)]

    def load(self, name: str) -> Any:
        """Import and return what ``name`` stands for (:class:`ConfigError` if unknown)."""
        module_name, _, attribute = self.class_path(name).rpartition(".")
        return getattr(importlib.import_module(module_name), attribute)

    def name_of(self, class_path: str) -> str | None:
        """The short name registered for ``class_path``, or None."""
        for name, path in self._entries.items():
            if path == class_path:
                return name
        return None
