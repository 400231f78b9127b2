"""Role groups named in policy: who may review, audit, approve and bypass masking (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from broker.common.yamlsrc import KeyPath, Reader, Source

Role = Literal["reviewers", "auditors", "approvers", "unmasked"]
ROLES: tuple[Role, ...] = ("reviewers", "auditors", "approvers", "unmasked")
"""The roles a policy file may name, in the order `gatehouse check` prints them."""


@dataclass(frozen=True)
class Roles:
    """The groups that hold each role; a user holds a role through any one of them."""

    reviewers: tuple[str, ...] = ("reviewers",)
    """May list, search and replay every recording (others see their own only)."""
    auditors: tuple[str, ...] = ("auditors",)
    """May read the audit log in the TUI's audit pane."""
    approvers: tuple[str, ...] = ("approvers",)
    """May work the approval queue."""
    unmasked: tuple[str, ...] = ("unmasked",)
    """Break-glass: their sessions are not masked, and each such session is audited."""

    def groups(self, role: Role) -> tuple[str, ...]:
        """The groups that hold ``role``."""
        held: tuple[str, ...] = getattr(self, role)
        return held

    def granting(self, role: Role, groups: Iterable[str]) -> str | None:
        """The first of ``groups`` that holds ``role`` (in role order), or None."""
        mine = set(groups)
        return next((g for g in self.groups(role) if g in mine), None)

    def holds(self, role: Role, groups: Iterable[str]) -> bool:
        """Whether a member of ``groups`` holds ``role``."""
        return self.granting(role, groups) is not None

    def describe(self) -> str:
        """One line per role: ``reviewers: sec-review, leads`` (``(nobody)`` if empty)."""
        return "\n".join(f"{role}: {', '.join(self.groups(role)) or '(nobody)'}" for role in ROLES)


DEFAULT_ROLES = Roles()
"""The roles when no policy file names them: each held by the group of its own name."""


def parse_roles(src: Source, path: KeyPath = ("roles",)) -> Roles:
    """Parse the ``roles`` mapping of a policy document; a role it leaves out keeps its default.

    Raises:
        ConfigError: naming ``file:line`` and the key (``roles.reviewers.1``) of the problem.
    """
    raw = Reader(src).get(path)
    if not isinstance(raw, Mapping):
        raise src.error(path, "must be a mapping of role to a list of groups")
    named: dict[str, tuple[str, ...]] = {}
    for key, value in raw.items():
        if key not in ROLES:
            hint = ", ".join(ROLES)
            raise src.error((*path, str(key)), f"unknown role (expected one of: {hint})")
        where: KeyPath = (*path, key)
        if not isinstance(value, list):
            raise src.error(where, f"must be a list of group names, got {type(value).__name__}")
        for i, group in enumerate(value):
            if not isinstance(group, str) or not group.strip():
                raise src.error((*where, i), "must be a non-empty string (a group name)")
            if not group.isprintable():
                raise src.error((*where, i), "a group name has no control characters")
            if group == "*":
                raise src.error((*where, i), "a role names groups; '*' (everyone) is not allowed")
        if len(set(value)) != len(value):
            raise src.error(where, "names a group twice")
        named[key] = tuple(value)
    return Roles(**named)
