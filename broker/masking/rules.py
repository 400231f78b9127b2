"""Masking rules per connection and per group: the base policy plus scoped overrides (pure).

An override is a delta on the base ``masking`` policy, scoped by connection globs and groups;
the first override that matches a session decides (like access rules), else the base applies.
Every override is resolved and checked when the policy is loaded, so a session only looks one
up. Overrides can only do what they say: a detector the base enables stays on unless an
override names it (or its category) under ``disable``; an override can neither switch every
detector off nor change the failure mode. The groups of the ``unmasked`` role (policy
``roles``) are the only way to switch masking off, and that happens (audited) before these
rules are consulted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from broker.common.errors import ConfigError
from broker.common.yamlsrc import KeyPath, Source
from broker.masking import BUILTIN_BY_NAME, Detector, MaskingPolicy, Strategy, parse_masking_policy
from broker.masking.policy import STRATEGIES, config_error, parse_binary, select_detectors
from broker.policy.loader import PolicySet
from broker.policy.roles import Roles

DEFAULT_SCOPE = "default"
"""Name of the base policy in audit records (an override's name otherwise)."""
OVERRIDE_KEYS = (
    "name",
    "connections",
    "groups",
    "detectors",
    "strategies",
    "default_strategy",
    "binary",
)
PathLine = Callable[[KeyPath], int]


@dataclass(frozen=True)
class MaskingOverride:
    """A masking policy for the sessions one scope selects."""

    name: str
    """Shown in the session's ``masking.summary`` audit record (``overrides[N]`` if unnamed)."""
    connections: tuple[str, ...]
    """Connection-name globs (fnmatch, case-sensitive); empty means every connection."""
    groups: tuple[str, ...]
    """The override applies to members of any of these groups; empty (or ``*``): everyone."""
    policy: MaskingPolicy
    """The base policy with this override's changes applied."""

    def applies_to(self, connection: str, groups: Iterable[str]) -> bool:
        """Whether a session on ``connection`` by a member of ``groups`` is in scope."""
        if self.connections and not any(fnmatchcase(connection, g) for g in self.connections):
            return False
        return not self.groups or "*" in self.groups or not set(self.groups).isdisjoint(groups)


@dataclass(frozen=True)
class MaskingRules:
    """The deployment's masking rules: a base policy and overrides, first match wins."""

    base: MaskingPolicy = dataclasses.field(default_factory=MaskingPolicy)
    """The policy of sessions no override selects."""
    overrides: tuple[MaskingOverride, ...] = ()
    """In file order; the first one that applies decides."""

    def select(self, connection: str, groups: Iterable[str]) -> MaskingOverride | None:
        """The override that decides for this session, or None for the base policy."""
        groups = tuple(groups)
        for override in self.overrides:
            if override.applies_to(connection, groups):
                return override
        return None

    def resolve(self, connection: str, groups: Iterable[str]) -> MaskingPolicy:
        """The masking policy of a session on ``connection`` by a member of ``groups``."""
        chosen = self.select(connection, groups)
        return self.base if chosen is None else chosen.policy

    def scope(self, connection: str, groups: Iterable[str]) -> str:
        """The name of the policy that applies (``default`` for the base)."""
        chosen = self.select(connection, groups)
        return DEFAULT_SCOPE if chosen is None else chosen.name

    def strictest(self) -> MaskingPolicy:
        """The base policy with every detector any override enables (for context-free text)."""
        policies = (self.base, *(o.policy for o in self.overrides))
        return dataclasses.replace(self.base, detectors=_ordered_union(policies))


def _ordered_union(policies: Iterable[MaskingPolicy]) -> tuple[Detector, ...]:
    """Every detector of ``policies``, built-ins in their precedence order, then custom ones."""
    seen: dict[str, Detector] = {}
    for policy in policies:
        for det in policy.detectors:
            seen.setdefault(det.name, det)
    rank = {name: i for i, name in enumerate(BUILTIN_BY_NAME)}
    custom = {name: len(rank) + i for i, name in enumerate(seen)}
    return tuple(sorted(seen.values(), key=lambda d: rank.get(d.name, custom[d.name])))


class _Context:
    """Where the section came from, to name ``file:line: masking.…`` in errors."""

    def __init__(self, file: str, line_of: PathLine, unmasked: tuple[str, ...]) -> None:
        self.file = file
        self.line_of = line_of
        self.unmasked = unmasked
        """The break-glass groups (role ``unmasked``), which no override may name."""
        self.break_glass = f"only the unmasked role ({', '.join(unmasked) or 'no group'})"

    def fail(self, message: str, path: KeyPath) -> ConfigError:
        return config_error(message, path, self.file, self.line_of)


def _strings(value: object, path: KeyPath, what: str, ctx: _Context) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ctx.fail(f"must be a list of {what}", path)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise ctx.fail(f"must be a non-empty string ({what})", (*path, i))
    return tuple(value)


def _expand(
    names: tuple[str, ...], known: Mapping[str, Detector], path: KeyPath, ctx: _Context
) -> set[str]:
    return select_detectors(list(names), known, path, ctx.file, ctx.line_of)


def _strategy(value: object, path: KeyPath, ctx: _Context) -> Strategy:
    for strategy in STRATEGIES:
        if value == strategy:
            return strategy
    raise ctx.fail(f"strategy must be one of {', '.join(STRATEGIES)}, not {value!r}", path)


def _detectors(
    raw: object, path: KeyPath, base: MaskingPolicy, known: Mapping[str, Detector], ctx: _Context
) -> tuple[Detector, ...]:
    """Base detectors, plus those named under ``enable``, minus those under ``disable``."""
    if raw is None:
        return base.detectors
    if not isinstance(raw, Mapping):
        raise ctx.fail("detectors must be a mapping with enable/disable", path)
    for key in raw:
        if key not in ("enable", "disable"):
            raise ctx.fail(f"unknown key {key!r} (expected enable, disable)", (*path, str(key)))
    if raw.get("enable") == "all":
        enable = set(known)
    else:
        names = _strings(raw.get("enable"), (*path, "enable"), "detector or category names", ctx)
        enable = _expand(names, known, (*path, "enable"), ctx)
    off = raw.get("disable")
    if off == "all" or (isinstance(off, list) and "all" in off):
        raise ctx.fail(
            f"an override cannot disable every detector; {ctx.break_glass} "
            "switches masking off (and is audited)",
            (*path, "disable"),
        )
    names = _strings(off, (*path, "disable"), "detector or category names", ctx)
    disable = _expand(names, known, (*path, "disable"), ctx)
    on = {d.name for d in base.detectors} | enable
    return tuple(d for d in known.values() if d.name in on and d.name not in disable)


def _override(
    raw: object, index: int, base: MaskingPolicy, known: Mapping[str, Detector], ctx: _Context
) -> MaskingOverride:
    path: KeyPath = ("overrides", index)
    if not isinstance(raw, Mapping):
        raise ctx.fail("an override is a mapping (connections, groups, detectors, …)", path)
    for key in raw:
        if key == "mode":
            raise ctx.fail(
                "the failure mode is set once, at the top of the masking section",
                (*path, "mode"),
            )
        if key not in OVERRIDE_KEYS:
            hint = ", ".join(OVERRIDE_KEYS)
            raise ctx.fail(f"unknown key {key!r} (expected one of: {hint})", (*path, str(key)))
    name = raw.get("name", f"overrides[{index}]")
    if not isinstance(name, str) or not name or name == DEFAULT_SCOPE:
        raise ctx.fail(f"name must be a non-empty string other than {DEFAULT_SCOPE!r}", path)
    conns = _strings(raw.get("connections"), (*path, "connections"), "connection globs", ctx)
    groups = _strings(raw.get("groups"), (*path, "groups"), "group names", ctx)
    if not conns and not groups:
        raise ctx.fail("an override needs connections or groups (or both) to scope it", path)
    for i, group in enumerate(groups):
        if group in ctx.unmasked:
            raise ctx.fail(
                f"members of {group!r} are not masked (role unmasked); "
                "an override cannot apply to them",
                (*path, "groups", i),
            )
    detectors = _detectors(raw.get("detectors"), (*path, "detectors"), base, known, ctx)
    if not detectors:
        raise ctx.fail(
            f"this override leaves no detector on; {ctx.break_glass} "
            "switches masking off (and is audited)",
            (*path, "detectors"),
        )
    raw_strat = raw.get("strategies", {})
    if not isinstance(raw_strat, Mapping):
        raise ctx.fail("strategies must map detector names to strategies", (*path, "strategies"))
    strategies = dict(base.strategies)
    for det, value in raw_strat.items():
        if det not in known:
            raise ctx.fail(f"unknown detector {det!r}", (*path, "strategies", str(det)))
        strategies[det] = _strategy(value, (*path, "strategies", str(det)), ctx)
    default = base.default_strategy
    if "default_strategy" in raw:
        default = _strategy(raw["default_strategy"], (*path, "default_strategy"), ctx)
    binary = base.binary
    if "binary" in raw:
        binary = parse_binary(raw["binary"], (*path, "binary"), ctx.file, ctx.line_of)
    policy = dataclasses.replace(
        base, detectors=detectors, strategies=strategies, default_strategy=default, binary=binary
    )
    return MaskingOverride(name=name, connections=conns, groups=groups, policy=policy)


def parse_masking_rules(
    section: Mapping[str, Any],
    *,
    file: str,
    line_of: PathLine,
    unmasked: tuple[str, ...] = Roles().unmasked,
) -> MaskingRules:
    """Parse a ``masking`` section: the base policy, then its ``overrides`` list.

    Args:
        section: The mapping under ``masking:``.
        file: The policy file's path, for error messages.
        line_of: The line of a key path relative to the section (may raise ``LookupError``).
        unmasked: The break-glass groups (role ``unmasked``); no override may name them.

    Raises:
        ConfigError: naming ``file:line`` and the key (``masking.overrides.1.detectors…``).
    """
    ctx = _Context(file, line_of, unmasked)
    if not isinstance(section, Mapping):
        raise ctx.fail("masking must be a mapping", ())
    rest = {k: v for k, v in section.items() if k != "overrides"}
    base = parse_masking_policy(rest, file=file, line_of=line_of)
    raw = section.get("overrides")
    if raw is None:
        return MaskingRules(base=base)
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        raise ctx.fail("overrides must be a list", ("overrides",))
    # Every detector the section knows (custom ones too, even when the base disables them),
    # in precedence order, so an override can enable any of them by name.
    every = parse_masking_policy(
        {**rest, "detectors": {"enable": "all"}}, file=file, line_of=line_of
    )
    known = {d.name: d for d in every.detectors}
    overrides: list[MaskingOverride] = []
    for i, item in enumerate(raw):
        override = _override(item, i, base, known, ctx)
        if any(o.name == override.name for o in overrides):
            raise ctx.fail(f"duplicate override name {override.name!r}", ("overrides", i, "name"))
        overrides.append(override)
    return MaskingRules(base=base, overrides=tuple(overrides))


def load_masking_rules(policies: PolicySet) -> MaskingRules:
    """The masking rules: the one policy file with a ``masking`` section, else the defaults.

    Raises:
        ConfigError: the section is invalid, or a second file has one (file:line named).
    """
    if not policies.masking:
        return MaskingRules()
    for extra in policies.masking[1:]:
        raise extra.error(("masking",), "only one policy file may have a masking section")
    src: Source = policies.masking[0]

    def line_of(path: KeyPath) -> int:
        return src.line(("masking", *path))

    return parse_masking_rules(
        src.data["masking"], file=src.file, line_of=line_of, unmasked=policies.roles.unmasked
    )
