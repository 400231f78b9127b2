"""Access rules: who may reach which connection; first match wins, the default is deny."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from broker.policy.windows import Window, open_until

Action = Literal["allow", "approval", "deny"]
ACTIONS: tuple[Action, ...] = ("allow", "approval", "deny")
DEFAULT_DENY = "default-deny"


@dataclass(frozen=True)
class AccessRule:
    """Groups × connection globs → an action."""

    name: str
    """Rule name, shown in denials and the audit log."""
    groups: tuple[str, ...]
    """The rule applies to members of any of these groups (`*` matches everyone)."""
    connections: tuple[str, ...]
    """Connection-name globs (`web-*`, `shell`)."""
    action: Action
    """What happens when the rule matches."""
    approvers: tuple[str, ...] = ()
    """Groups allowed to approve (action `approval`)."""
    approvals: int = 1
    """Number of distinct approvals needed."""
    grant_seconds: int = 3600
    """How long an approval grants access."""
    reason_required: bool = True
    """Whether a request under this rule needs a justification."""
    windows: tuple[Window, ...] = ()
    """When the rule applies (none: always); outside them the next rule decides."""


@dataclass(frozen=True)
class Decision:
    """The outcome of a policy question."""

    action: Action
    rule: str
    """Name of the deciding rule, or `default-deny`."""
    approvers: tuple[str, ...] = ()
    approvals: int = 0
    grant_seconds: int = 0
    reason_required: bool = True
    """For `approval`: whether the request needs a justification."""
    reason: str = ""
    """Why, when the rule alone does not say (e.g. what made a command undecidable)."""
    until: float | None = None
    """When the deciding rule's time window closes (epoch seconds); None: it has none."""

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


def groups_match(rule_groups: Iterable[str], groups: Iterable[str]) -> bool:
    mine = set(groups)
    return any(g == "*" or g in mine for g in rule_groups)


def connection_match(globs: Iterable[str], connection: str) -> bool:
    return any(fnmatchcase(connection, g) for g in globs)


def decide_access(
    rules: Sequence[AccessRule],
    groups: Iterable[str],
    connection: str,
    now: float | None = None,
) -> Decision:
    """Decide whether members of ``groups`` may open ``connection`` at ``now`` (default: the
    current time).

    The first rule whose groups and connection globs both match, and whose time windows (if
    any) hold ``now``, decides; with no match the answer is deny by ``default-deny``, naming a
    rule that matched but for its windows.
    """
    groups = tuple(groups)
    at = time.time() if now is None else now
    closed = ""
    for rule in rules:
        if not (
            groups_match(rule.groups, groups) and connection_match(rule.connections, connection)
        ):
            continue
        until = open_until(rule.windows, at)
        if until is None:
            closed = closed or rule.name
            continue
        return Decision(
            action=rule.action,
            rule=rule.name,
            approvers=rule.approvers,
            approvals=rule.approvals if rule.action == "approval" else 0,
            grant_seconds=rule.grant_seconds if rule.action == "approval" else 0,
            reason_required=rule.reason_required,
            until=None if rule.windows == () else until,
        )
    why = f"rule {closed!r} applies only in its time windows" if closed else ""
    return Decision(action="deny", rule=DEFAULT_DENY, reason=why)
