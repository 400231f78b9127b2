"""A session's principal before and after the IdP vouched for it."""

from __future__ import annotations

from dataclasses import replace

from broker.identity.claims import Identity
from broker.session.terminal import Principal

PENDING_NAME = "(not signed in)"
"""The name of a principal the IdP has not vouched for yet: no user, rule or request has it."""


def pending_principal(principal: Principal) -> Principal:
    """``principal`` waiting for a sign-in: no groups, a name that matches nothing."""
    return replace(principal, name=PENDING_NAME, groups=(), pending_user=principal.name)


def signed_in_principal(principal: Principal, identity: Identity) -> Principal:
    """The session's principal as the IdP vouched for it (groups from the IdP, not the config)."""
    return replace(
        principal,
        name=identity.name,
        groups=identity.groups,
        idp_issuer=identity.issuer,
        idp_subject=identity.subject,
        pending_user="",
    )
