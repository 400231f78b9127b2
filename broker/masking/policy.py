"""The masking policy: which detectors run, how values are replaced, what happens on failure."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from broker.common.errors import ConfigError
from broker.masking.builtin import BUILTIN_BY_NAME, BUILTIN_DETECTORS
from broker.masking.detector import CATEGORIES, TOKEN_CONTINUATION, Category, Detector

Strategy = Literal["redact", "partial", "hash"]
Mode = Literal["fail_closed", "unsafe_best_effort"]
Binary = Literal["refuse", "pass"]
BINARY: tuple[Binary, ...] = ("refuse", "pass")
STRATEGIES: tuple[Strategy, ...] = ("redact", "partial", "hash")
MODES: tuple[Mode, ...] = ("fail_closed", "unsafe_best_effort")

_NAME_RE = re.compile(r"[a-z][a-z0-9_\-]{0,63}")
_TOP_KEYS = frozenset(
    {"detectors", "strategies", "default_strategy", "columns", "custom", "mode", "binary"}
)
PathLine = Callable[[tuple[str | int, ...]], int]


@dataclass(frozen=True)
class ColumnRule:
    """Mask a whole SQL result cell when its column name matches."""

    match: re.Pattern[str]
    """Searched in the column name."""
    strategy: Strategy
    """How the cell's value is replaced."""


@dataclass(frozen=True)
class MaskingPolicy:
    """A resolved masking policy, ready to build an engine from."""

    detectors: tuple[Detector, ...] = tuple(d for d in BUILTIN_DETECTORS if d.default_on)
    """Enabled detectors in precedence order (built-ins first, then custom ones)."""
    strategies: Mapping[str, Strategy] = field(default_factory=dict)
    """Per-detector strategy overrides."""
    default_strategy: Strategy = "redact"
    """Strategy for detectors without an override."""
    columns: tuple[ColumnRule, ...] = ()
    """Column-name rules applied to SQL cells before the detectors."""
    mode: Mode = "fail_closed"
    """``fail_closed`` withholds data the engine failed on; ``unsafe_best_effort`` passes it."""
    binary: Binary = "refuse"
    """Output that is not text (:mod:`broker.masking.binary`): ``refuse`` ends the session
    with a message; ``pass`` passes it byte-exact, unmasked, and audits its size and hash."""

    def strategy_for(self, detector: str) -> Strategy:
        """Return the strategy for a detector name."""
        return self.strategies.get(detector, self.default_strategy)

    @property
    def detector_names(self) -> tuple[str, ...]:
        """Names of the enabled detectors, in precedence order."""
        return tuple(d.name for d in self.detectors)


def config_error(
    message: str, path: tuple[str | int, ...], file: str, line_of: PathLine
) -> ConfigError:
    """A config error naming ``file:line`` and the key ``masking.<path>``."""
    key = ".".join(["masking", *(str(p) for p in path)])
    try:
        line = line_of(path)
    except (KeyError, IndexError, LookupError):
        line = 0
    return ConfigError(message, file=file, line=line, key=key)


def _strategy(value: object, path: tuple[str | int, ...], file: str, line_of: PathLine) -> Strategy:
    for strategy in STRATEGIES:
        if value == strategy:
            return strategy
    raise config_error(
        f"strategy must be one of {', '.join(STRATEGIES)}, not {value!r}", path, file, line_of
    )


def parse_binary(
    value: object, path: tuple[str | int, ...], file: str, line_of: PathLine
) -> Binary:
    """``binary: refuse | pass`` (what happens to output that is not text)."""
    for choice in BINARY:
        if value == choice:
            return choice
    raise config_error(
        f"binary must be one of {', '.join(BINARY)}, not {value!r}", path, file, line_of
    )


def _name_list(
    value: object, path: tuple[str | int, ...], file: str, line_of: PathLine
) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise config_error("expected a list of detector or category names", path, file, line_of)
    names: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise config_error("expected a detector or category name", (*path, i), file, line_of)
        names.append(item)
    return names


def _compile_custom(
    entry: object, index: int, file: str, line_of: PathLine
) -> tuple[Detector, Strategy | None]:
    path: tuple[str | int, ...] = ("custom", index)
    if not isinstance(entry, Mapping):
        raise config_error(
            "a custom detector is a mapping with name and regex", path, file, line_of
        )
    unknown = set(entry) - {"name", "regex", "strategy", "category"}
    if unknown:
        raise config_error(f"unknown key {sorted(map(str, unknown))[0]!r}", path, file, line_of)
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise config_error(
            "name must be lower-case letters, digits, '_' or '-'", (*path, "name"), file, line_of
        )
    if name in BUILTIN_BY_NAME or name in CATEGORIES or name == "all":
        raise config_error(
            f"name {name!r} is taken by a built-in detector", (*path, "name"), file, line_of
        )
    pattern = entry.get("regex")
    if not isinstance(pattern, str) or not pattern:
        raise config_error("regex must be a non-empty string", (*path, "regex"), file, line_of)
    try:
        compiled = re.compile(pattern.encode("utf-8"))
    except re.error as exc:
        raise config_error(f"invalid regex: {exc}", (*path, "regex"), file, line_of) from None
    if compiled.fullmatch(b"") is not None:
        raise config_error("regex matches the empty string", (*path, "regex"), file, line_of)
    category = entry.get("category", "secret")
    if category not in CATEGORIES:
        raise config_error(
            f"category must be one of {', '.join(CATEGORIES)}", (*path, "category"), file, line_of
        )
    strategy = entry.get("strategy")
    chosen = None if strategy is None else _strategy(strategy, (*path, "strategy"), file, line_of)
    detector = Detector(
        name=name,
        category=cast(Category, category),
        regex=compiled,
        continuation=TOKEN_CONTINUATION,
    )
    return detector, chosen


def select_detectors(
    names: list[str],
    known: Mapping[str, Detector],
    path: tuple[str | int, ...],
    file: str,
    line_of: PathLine,
) -> set[str]:
    """Detector names for ``names`` (detector names, categories or ``all``) among ``known``."""
    chosen: set[str] = set()
    for i, name in enumerate(names):
        if name == "all":
            chosen.update(known)
        elif name in CATEGORIES:
            chosen.update(n for n, d in known.items() if d.category == name)
        elif name in known:
            chosen.add(name)
        else:
            raise config_error(f"unknown detector or category {name!r}", (*path, i), file, line_of)
    return chosen


def parse_masking_policy(
    section: Mapping[str, Any], *, file: str, line_of: PathLine
) -> MaskingPolicy:
    """Parse the ``masking`` section of a policy file.

    Args:
        section: The mapping under ``masking:``.
        file: The policy file's path, for error messages.
        line_of: Returns the line of a key path relative to the section, e.g.
            ``("custom", 0, "regex")``; may raise ``LookupError`` when it does not know.

    Returns:
        The resolved policy: by default every secret and PII detector, network ones off.

    Raises:
        ConfigError: Unknown keys, detector names or strategies, or a bad custom regex.
    """
    if not isinstance(section, Mapping):
        raise config_error("masking must be a mapping", (), file, line_of)
    for key in section:
        if key not in _TOP_KEYS:
            raise config_error(f"unknown key {key!r}", (str(key),), file, line_of)
    custom: list[Detector] = []
    custom_strategies: dict[str, Strategy] = {}
    raw_custom = section.get("custom", [])
    if isinstance(raw_custom, str) or not isinstance(raw_custom, Sequence):
        raise config_error("custom must be a list", ("custom",), file, line_of)
    for i, entry in enumerate(raw_custom):
        det, strat = _compile_custom(entry, i, file, line_of)
        if any(c.name == det.name for c in custom):
            raise config_error(
                f"duplicate custom detector {det.name!r}", ("custom", i, "name"), file, line_of
            )
        custom.append(det)
        if strat is not None:
            custom_strategies[det.name] = strat
    known: dict[str, Detector] = {**BUILTIN_BY_NAME, **{d.name: d for d in custom}}

    raw_det = section.get("detectors", {})
    if not isinstance(raw_det, Mapping):
        raise config_error(
            "detectors must be a mapping with enable/disable", ("detectors",), file, line_of
        )
    for key in raw_det:
        if key not in ("enable", "disable"):
            raise config_error(f"unknown key {key!r}", ("detectors", str(key)), file, line_of)
    enable = raw_det.get("enable")
    if enable is None:
        enabled = {n for n, d in known.items() if d.default_on}
    elif enable == "all":
        enabled = set(known)
    else:
        names = _name_list(enable, ("detectors", "enable"), file, line_of)
        enabled = select_detectors(names, known, ("detectors", "enable"), file, line_of)
        enabled.update(d.name for d in custom)
    disable = _name_list(raw_det.get("disable", []), ("detectors", "disable"), file, line_of)
    enabled -= select_detectors(disable, known, ("detectors", "disable"), file, line_of)

    raw_strat = section.get("strategies", {})
    if not isinstance(raw_strat, Mapping):
        raise config_error(
            "strategies must map detector names to strategies", ("strategies",), file, line_of
        )
    strategies: dict[str, Strategy] = dict(custom_strategies)
    for name, value in raw_strat.items():
        if name not in known:
            raise config_error(
                f"unknown detector {name!r}", ("strategies", str(name)), file, line_of
            )
        strategies[name] = _strategy(value, ("strategies", str(name)), file, line_of)
    default = _strategy(
        section.get("default_strategy", "redact"), ("default_strategy",), file, line_of
    )

    raw_cols = section.get("columns", [])
    if isinstance(raw_cols, str) or not isinstance(raw_cols, Sequence):
        raise config_error("columns must be a list", ("columns",), file, line_of)
    columns: list[ColumnRule] = []
    for i, col in enumerate(raw_cols):
        if not isinstance(col, Mapping) or not isinstance(col.get("match"), str):
            raise config_error(
                "a column rule is a mapping with a match regex", ("columns", i), file, line_of
            )
        if set(col) - {"match", "strategy"}:
            raise config_error(
                "a column rule has only match and strategy", ("columns", i), file, line_of
            )
        try:
            match = re.compile(col["match"])
        except re.error as exc:
            raise config_error(
                f"invalid regex: {exc}", ("columns", i, "match"), file, line_of
            ) from None
        strat = _strategy(col.get("strategy", default), ("columns", i, "strategy"), file, line_of)
        columns.append(ColumnRule(match=match, strategy=strat))

    mode = section.get("mode", "fail_closed")
    if mode not in MODES:
        raise config_error(
            f"mode must be one of {', '.join(MODES)}, not {mode!r}", ("mode",), file, line_of
        )

    binary = parse_binary(section.get("binary", "refuse"), ("binary",), file, line_of)

    ordered = tuple(d for d in (*BUILTIN_DETECTORS, *custom) if d.name in enabled)
    return MaskingPolicy(
        detectors=ordered,
        strategies=strategies,
        default_strategy=default,
        columns=tuple(columns),
        mode=cast(Mode, mode),
        binary=binary,
    )
