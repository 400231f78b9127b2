"""Warnings `gatehouse check` gives about a config that loads but probably does not do what was meant."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from broker.common.errors import ConfigError
from broker.common.yamlsrc import Source
from broker.config.model import User

_GROUP_LISTS = (("access", "groups"), ("access", "approvers"), ("commands", "groups"))


def unheld_groups(users: Mapping[str, User], sources: Sequence[Source]) -> list[ConfigError]:
    """Each group a policy rule names that no configured user is in, as ``file:line: key``.

    Only meaningful without an identity provider: with OIDC, groups come from the IdP's token.
    ``*`` matches everyone and is never reported. The groups a ``roles`` section names count
    too (a role held by a group nobody is in is held by nobody).
    """
    held = {group for user in users.values() for group in user.groups}
    found: list[ConfigError] = []
    for src in sources:
        for section, key in _GROUP_LISTS:
            for i, rule in _items(src.data, section):
                names = rule.get(key) if isinstance(rule, Mapping) else None
                for j, group in _items({key: names}, key):
                    if isinstance(group, str) and group != "*" and group not in held:
                        found.append(
                            src.error(
                                (section, i, key, j),
                                f"no user is in group {group!r} (and no oidc is configured)",
                            )
                        )
        roles = src.data.get("roles") if isinstance(src.data, Mapping) else None
        for role, groups in roles.items() if isinstance(roles, Mapping) else ():
            for j, group in _items({"g": groups}, "g"):
                if isinstance(group, str) and group not in held:
                    found.append(
                        src.error(
                            ("roles", str(role), j),
                            f"no user is in group {group!r} (and no oidc is configured)",
                        )
                    )
    return sorted(found, key=lambda e: (e.file, e.line))


def _items(data: object, key: str) -> Iterable[tuple[int, object]]:
    value = data.get(key) if isinstance(data, Mapping) else None
    return enumerate(value) if isinstance(value, list) else ()
