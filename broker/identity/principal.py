"""A session's principal before and after the IdP vouched for it, and the TUI's sign-in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from broker.auditchain.context import stamp_session
from broker.auditchain.events import Action
from broker.identity.claims import Identity
from broker.identity.device import DeviceGrant
from broker.identity.errors import SignInError
from broker.identity.signin import SignIn
from broker.session.terminal import Principal, Terminal

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


async def sign_in_terminal(
    signin: SignIn,
    terminal: Terminal,
    show: Callable[[DeviceGrant], None],
    emit_soon: Callable[[str, Action, str, Mapping[str, Any]], None],
) -> Principal:
    """Run the device flow for ``terminal``'s pending principal and put the signed-in one there.

    The identity is stamped on every record the session writes from now on.

    Raises:
        SignInError: nothing pending, refused, denied, expired, the IdP unreachable (audited).
    """
    principal = terminal.principal
    user = principal.pending_user
    if not user:
        raise SignInError("not_pending", "no sign-in is pending for this session")
    try:
        identity = await signin.device_login(
            user, principal.key_fingerprint, show, source=principal.client_addr.rpartition(":")[0]
        )
    except asyncio.CancelledError:
        details = {"reason": "cancelled", "message": "sign-in cancelled"}
        emit_soon(user, Action.IDP_LOGIN_FAILED, "gatehouse", details)
        raise
    terminal.principal = signed_in_principal(principal, identity)
    stamp_session(identity.audit_details())
    return terminal.principal
