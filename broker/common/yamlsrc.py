"""YAML loading that remembers the line of every key, so errors can name `file:line`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from broker.common.errors import ConfigError, ConfigErrors

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Source:
    """A parsed YAML document and the line (1-based) of each key path in it."""

    file: str
    """The path the document was read from, as given."""
    data: Any
    """The plain Python value (dicts, lists, scalars)."""
    lines: Mapping[KeyPath, int]
    """Line of each mapping key / sequence item, by its path from the root."""

    def line(self, path: KeyPath) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def error(self, path: KeyPath, message: str) -> ConfigError:
        """A ConfigError pointing at ``path``."""
        key = ".".join(str(p) for p in path)
        return ConfigError(message, file=self.file, line=self.line(path), key=key)


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], file: str) -> None:
    """Record the line of every key and item; refuse duplicate and non-scalar keys."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            where = ".".join(str(p) for p in path)
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    "mapping keys must be plain strings", file=file, line=line, key=where
                )
            key = str(key_node.value)
            if key in seen:
                dotted = ".".join(str(p) for p in (*path, key))
                raise ConfigError("duplicate key", file=file, line=line, key=dotted)
            seen.add(key)
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, file)


def parse_yaml(text: str, file: str) -> Source:
    """Parse ``text`` (named ``file`` in errors) into a :class:`Source`.

    Raises:
        ConfigError: on a syntax error, naming the line.
    """
    lines: dict[KeyPath, int] = {}
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from None
    try:
        node = loader.get_single_node()
        if node is not None:
            _walk(node, (), lines, file)
        data = {} if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise ConfigError(
            f"invalid YAML: {exc.problem or exc.context}", file=file, line=line
        ) from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from None
    finally:
        loader.dispose()
    return Source(file=file, data=data, lines=lines)


def load_yaml(path: Path) -> Source:
    """Read and parse the YAML file at ``path``.

    Raises:
        ConfigError: if the file cannot be read or parsed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", file=str(path)) from None
    return parse_yaml(text, str(path))


class Reader:
    """Typed accessors over a Source that raise file:line errors.

    A parser that wants every problem in one pass wraps each independent part (a user, a
    connection, a rule) in :meth:`collecting`, then calls :meth:`raise_collected` at the end.
    """

    def __init__(self, src: Source) -> None:
        self.src = src
        self.errors: list[ConfigError] = []

    @contextmanager
    def collecting(self) -> Iterator[None]:
        """Record a ConfigError raised in the block and carry on after it."""
        try:
            yield
        except ConfigError as exc:
            self.errors.extend(exc.all())

    def raise_collected(self) -> None:
        """Raise every error collected so far, in file order, as one ConfigErrors."""
        if self.errors:
            raise ConfigErrors(sorted(self.errors, key=lambda e: (e.file, e.line)))

    def get(self, path: KeyPath) -> Any:
        node: Any = self.src.data
        for part in path:
            if isinstance(node, Mapping) and isinstance(part, str):
                node = node.get(part)
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                return None
        return node

    def mapping(self, path: KeyPath, *, required: bool = False) -> Mapping[str, Any]:
        value = self.get(path)
        if value is None:
            if required:
                raise self.src.error(path, "is required")
            return {}
        if not isinstance(value, Mapping):
            raise self.src.error(path, f"must be a mapping, got {type(value).__name__}")
        return value

    def string(self, path: KeyPath, *, required: bool = False, default: str = "") -> str:
        value = self.get(path)
        if value is None:
            if required:
                raise self.src.error(path, "is required")
            return default
        if not isinstance(value, str) or not value:
            raise self.src.error(path, "must be a non-empty string")
        return value

    def integer(self, path: KeyPath, *, default: int, lo: int, hi: int) -> int:
        value = self.get(path)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.src.error(path, f"must be an integer from {lo} to {hi}")
        return value

    def boolean(self, path: KeyPath, *, default: bool) -> bool:
        value = self.get(path)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.src.error(path, "must be true or false")
        return value

    def strings(self, path: KeyPath) -> tuple[str, ...]:
        value = self.get(path)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.src.error(path, "must be a list of non-empty strings")
        return tuple(value)

    def only_keys(self, path: KeyPath, allowed: tuple[str, ...]) -> None:
        for key in self.mapping(path):
            if key not in allowed:
                hint = ", ".join(allowed)
                raise self.src.error((*path, key), f"unknown key (expected one of: {hint})")
