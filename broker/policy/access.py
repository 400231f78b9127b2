"""Access rules: who may reach which connection; first match wins, the default is deny."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

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

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


def groups_match(rule_groups: Iterable[str], groups: Iterable[str]) -> bool:
    mine = set(groups)
    return any(g == "*" or g in mine for g in rule_groups)


def connection_match(globs: Iterable[str], connection: str) -> bool:
    return any(fnmatchcase(connection, g) for g in globs)


def decide_access(rules: Sequence[AccessRule], groups: Iterable[str], connection: str) -> Decision:
    """Decide whether members of ``groups`` may open ``connection``.

    The first rule whose groups and connection globs both match decides;
    with no match the answer is deny by ``default-deny``.
    """
    groups = tuple(groups)
    for rule in rules:
        if groups_match(rule.groups, groups) and connection_match(rule.connections, connection):
            return Decision(
                action=rule.action,
                rule=rule.name,
                approvers=rule.approvers,
                approvals=rule.approvals if rule.action == "approval" else 0,
                grant_seconds=rule.grant_seconds if rule.action == "approval" else 0,
                reason_required=rule.reason_required,
            )
    return Decision(action="deny", rule=DEFAULT_DENY)
