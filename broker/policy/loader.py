"""Policy files (`policies/*.yaml`) → a PolicySet of frozen rules; errors name file:line."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from broker.common.errors import ConfigError, ConfigErrors
from broker.common.yamlsrc import KeyPath, Reader, Source, load_yaml
from broker.policy.access import ACTIONS, AccessRule, Action
from broker.policy.commands import CommandRule
from broker.policy.roles import Roles, parse_roles
from broker.policy.sql import SqlRule, parse_sql_rules
from broker.policy.windows import Window, WindowError, check_zone, parse_days, parse_hours

_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
APPROVAL_KEYS = ("approvers", "approvals", "grant", "reason_required")
POLICY_KEYS = ("access", "commands", "interpreters", "sql", "masking", "roles")


@dataclass(frozen=True)
class PolicySet:
    """All rules from all policy files, in file order (first match wins)."""

    access: tuple[AccessRule, ...] = ()
    commands: tuple[CommandRule, ...] = ()
    interpreters: tuple[str, ...] | None = None
    """Program globs that command rules refuse (bar shells given ``-c``); None: the built-in list."""
    sql: tuple[SqlRule, ...] = ()
    """SQL statement rules (broker/policy/sql.py)."""
    masking: tuple[Source, ...] = field(default=())
    """Masking sections with their sources, parsed by the masking engine."""
    roles: Roles = field(default_factory=Roles)
    """The groups holding each role (today's group names unless a policy file names others)."""
    roles_source: Source | None = None
    """The policy file that named the roles, if one did (only one may)."""


@dataclass(frozen=True)
class _ApprovalTerms:
    """What an `approval` rule asks for (the fields both kinds of rule share)."""

    approvers: tuple[str, ...] = ()
    """Empty: the groups of the `approvers` role (policy `roles:`), resolved when deciding."""
    approvals: int = 1
    grant_seconds: int = 3600
    reason_required: bool = True


def parse_duration(text: object) -> int | None:
    """`90s`, `15m`, `1h`, `2d` → seconds; None if malformed."""
    if isinstance(text, int) and not isinstance(text, bool) and text > 0:
        return text
    m = _DURATION.match(str(text).strip())
    return int(m.group(1)) * _UNITS[m.group(2)] if m and int(m.group(1)) > 0 else None


def _action(r: Reader, path: KeyPath) -> Action:
    value = r.string(path, required=True)
    for action in ACTIONS:
        if value == action:
            return action
    raise r.src.error(path, f"must be one of {', '.join(ACTIONS)}, got {value!r}")


def _rules(r: Reader, key: str) -> list[tuple[KeyPath, Mapping[str, Any]]]:
    raw = r.get((key,))
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise r.src.error((key,), "must be a list of rules")
    out: list[tuple[KeyPath, Mapping[str, Any]]] = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise r.src.error((key, i), "each rule must be a mapping")
        out.append(((key, i), item))
    return out


def _parse_access(r: Reader, names: set[str]) -> list[AccessRule]:
    rules = []
    for path, item in _rules(r, "access"):
        with r.collecting():
            r.only_keys(
                path, ("name", "groups", "connections", "action", "windows", *APPROVAL_KEYS)
            )
            name = r.string((*path, "name"), required=True)
            if name in names:
                raise r.src.error((*path, "name"), f"duplicate rule name {name!r}")
            names.add(name)
            groups = r.strings((*path, "groups")) or ("*",)
            conns = r.strings((*path, "connections"))
            if not conns:
                raise r.src.error((*path, "connections"), "is required (a list of globs)")
            action = _action(r, (*path, "action"))
            terms = _approval_terms(r, path, item, action)
            rules.append(
                AccessRule(
                    name=name,
                    groups=groups,
                    connections=conns,
                    action=action,
                    windows=_windows(r, (*path, "windows")),
                    **asdict(terms),
                )
            )
    return rules


def _parse_commands(r: Reader, names: set[str]) -> list[CommandRule]:
    rules = []
    kinds = ("match", "argv", "allow", "deny")
    for path, item in _rules(r, "commands"):
        with r.collecting():
            r.only_keys(path, ("name", *kinds, "action", "groups", "connections", *APPROVAL_KEYS))
            name = r.string((*path, "name"), required=True)
            if name in names:
                raise r.src.error((*path, "name"), f"duplicate rule name {name!r}")
            names.add(name)
            given = [key for key in kinds if key in item]
            if len(given) != 1:
                raise r.src.error(path, "needs exactly one of match (a regex), argv, allow or deny")
            kind = given[0]
            action = _command_action(r, path, kind, item)
            rules.append(
                CommandRule(
                    name=name,
                    pattern=_regex(r, (*path, "match")) if kind == "match" else None,
                    action=action,
                    groups=r.strings((*path, "groups")) or ("*",),
                    connections=r.strings((*path, "connections")) or ("*",),
                    argv=_argv_lists(r, (*path, kind)) if kind in ("argv", "deny") else (),
                    allow=_argv_lists(r, (*path, "allow")) if kind == "allow" else (),
                    **asdict(_approval_terms(r, path, item, action)),
                )
            )
    return rules


def _windows(r: Reader, path: KeyPath) -> tuple[Window, ...]:
    """``windows: [{days: mon-fri, hours: "08:00-18:00", tz: Europe/Berlin}, …]`` (tz default
    UTC, days default every day); absent: the rule always applies."""
    raw = r.get(path)
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise r.src.error(path, "must be a non-empty list of {days, hours, tz} windows")
    windows = []
    for i in range(len(raw)):
        at = (*path, i)
        r.only_keys(at, ("days", "hours", "tz"))
        given = r.get((*at, "days"))
        if isinstance(given, list) and all(isinstance(d, str) for d in given):
            given = ",".join(given)
        if given is not None and not (isinstance(given, str) and given):
            raise r.src.error((*at, "days"), "must be days like mon-fri or [sat, sun]")
        try:
            days = parse_days(given if isinstance(given, str) and given else "daily")
        except WindowError as exc:
            raise r.src.error((*at, "days"), str(exc)) from None
        try:
            start, end = parse_hours(r.string((*at, "hours"), required=True))
        except WindowError as exc:
            raise r.src.error((*at, "hours"), str(exc)) from None
        try:
            tz = check_zone(r.string((*at, "tz"), default="UTC"))
        except WindowError as exc:
            raise r.src.error((*at, "tz"), str(exc)) from None
        windows.append(Window(days=days, start=start, end=end, tz=tz))
    return tuple(windows)


def _approval_terms(
    r: Reader, path: KeyPath, item: Mapping[str, Any], action: Action
) -> _ApprovalTerms:
    """``approvers`` (none: the `approvers` role), ``approvals``, ``grant``, ``reason_required``
    of a rule whose action is `approval`; elsewhere those keys are an error."""
    if action != "approval":
        for key in APPROVAL_KEYS:
            if key in item:
                raise r.src.error((*path, key), "only applies when action is approval")
        return _ApprovalTerms()
    grant = parse_duration(r.get((*path, "grant")) or "1h")
    if grant is None:
        raise r.src.error((*path, "grant"), "must be a duration like 30m, 1h or 2d")
    return _ApprovalTerms(
        approvers=r.strings((*path, "approvers")),
        approvals=r.integer((*path, "approvals"), default=1, lo=1, hi=10),
        grant_seconds=grant,
        reason_required=r.boolean((*path, "reason_required"), default=True),
    )


def _regex(r: Reader, path: KeyPath) -> re.Pattern[str]:
    text = r.string(path, required=True)
    try:
        return re.compile(text)
    except re.error as exc:
        raise r.src.error(path, f"invalid regex: {exc}") from None


def _command_action(r: Reader, path: KeyPath, kind: str, item: Mapping[str, Any]) -> Action:
    """`match`/`argv` name their action; an allow list's is for what is not on it (default
    deny); a deny list denies."""
    if kind in ("match", "argv"):
        return _action(r, (*path, "action"))
    action = _action(r, (*path, "action")) if "action" in item else "deny"
    if kind == "deny" and action != "deny":
        raise r.src.error((*path, "action"), "a deny list denies; use argv for another action")
    if action == "allow":
        raise r.src.error(
            (*path, "action"),
            "an allow list's action (for commands not on it) must be deny or approval",
        )
    return action


def _argv_lists(r: Reader, path: KeyPath) -> tuple[tuple[str, ...], ...]:
    raw = r.get(path)
    shape = 'must be a list of argv patterns, e.g. [[systemctl, status, "*"]]'
    if not isinstance(raw, list) or not raw:
        raise r.src.error(path, shape)
    out = []
    for i, pattern in enumerate(raw):
        if (
            not isinstance(pattern, list)
            or not pattern
            or not all(isinstance(p, str) and p for p in pattern)
        ):
            raise r.src.error((*path, i), shape)
        if pattern[0] == "**":
            raise r.src.error((*path, i), "the first element names the program; it cannot be **")
        out.append(tuple(pattern))
    return tuple(out)


def _interpreters(r: Reader) -> tuple[str, ...] | None:
    raw = r.get(("interpreters",))
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(p, str) and p for p in raw):
        raise r.src.error(("interpreters",), "must be a list of program names or globs")
    return tuple(raw)


def parse_policy(src: Source, names: set[str] | None = None) -> PolicySet:
    """Validate one parsed policy document.

    Raises:
        ConfigError: naming file, line and key of each problem (a ConfigErrors if several).
    """
    names = set() if names is None else names
    r = Reader(src)
    if not isinstance(src.data, Mapping):
        raise src.error(
            (),
            "a policy file must be a mapping (access, commands, interpreters, sql, masking, roles)",
        )
    with r.collecting():
        r.only_keys((), POLICY_KEYS)
    named = "roles" in src.data
    roles = Roles()
    if named:
        with r.collecting():
            roles = parse_roles(src)
    sql: tuple[SqlRule, ...] = ()
    with r.collecting():
        sql = parse_sql_rules(r, names, _approval_terms)
    masking = (src,) if r.get(("masking",)) is not None else ()
    if masking:
        with r.collecting():
            r.mapping(("masking",))
    access: list[AccessRule] = []
    with r.collecting():
        access = _parse_access(r, names)
    commands: list[CommandRule] = []
    with r.collecting():
        commands = _parse_commands(r, names)
    interpreters = None
    with r.collecting():
        interpreters = _interpreters(r)
    r.raise_collected()
    return PolicySet(
        access=tuple(access),
        commands=tuple(commands),
        interpreters=interpreters,
        sql=sql,
        masking=masking,
        roles=roles,
        roles_source=src if named else None,
    )


def load_policies(paths: Sequence[Path]) -> PolicySet:
    """Load and merge policy files in order; rule names must be unique across them.

    Raises:
        ConfigError: every problem in every file (a ConfigErrors when there are several),
            including a second file that names roles (file:line named).
    """
    names: set[str] = set()
    parts: list[PolicySet] = []
    errors: list[ConfigError] = []
    for p in paths:
        try:
            parts.append(parse_policy(load_yaml(p), names))
        except ConfigError as exc:
            errors.extend(exc.all())
    named = [(part, part.roles_source) for part in parts if part.roles_source is not None]
    errors += [
        extra.error(("roles",), "only one policy file may name the roles") for _, extra in named[1:]
    ]
    if errors:
        raise ConfigErrors(errors)
    chosen = named[0][0] if named else PolicySet()
    return PolicySet(
        access=tuple(rule for part in parts for rule in part.access),
        commands=tuple(rule for part in parts for rule in part.commands),
        interpreters=_merge_interpreters(part.interpreters for part in parts),
        sql=tuple(rule for part in parts for rule in part.sql),
        masking=tuple(src for part in parts for src in part.masking),
        roles=chosen.roles,
        roles_source=chosen.roles_source,
    )


def _merge_interpreters(lists: Iterable[tuple[str, ...] | None]) -> tuple[str, ...] | None:
    """Files that set ``interpreters`` together replace the built-in list (``[]``: refuse none)."""
    given = [items for items in lists if items is not None]
    if not given:
        return None
    return tuple(dict.fromkeys(p for items in given for p in items))
