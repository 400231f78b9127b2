"""Which masking a session gets: its output stage, its recording, its audit lines, its messages."""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any

from broker.auditchain.events import Action
from broker.config.model import Connection
from broker.masking import StreamMasker
from broker.masking.filter import MaskingEngines, MaskingFilter
from broker.masking.lines import LineMask, line_masker, mask_details, unmasked
from broker.policy.roles import Roles
from broker.session.ports import EventSink
from broker.session.recording import StreamMaskers
from broker.session.terminal import Principal

EmitSoon = Callable[[str, Action, str, Mapping[str, Any]], None]
"""Records an audit event from synchronous code (``Services.emit_soon``)."""


class SessionMasking:
    """The masking rules' answer for one user on one connection (none without engines)."""

    def __init__(
        self,
        masking: MaskingEngines | None,
        roles: Roles,
        connections: Mapping[str, Connection],
        emit_soon: EmitSoon,
    ) -> None:
        self.masking = masking
        self.roles = roles
        self.connections = connections
        self.emit_soon = emit_soon

    def maskers_for(
        self, principal: Principal, conn: Connection, *, pty: bool = False
    ) -> list[MaskingFilter]:
        """The masking stage for a session (none for the unmasked role, which is audited).

        The policy is the one the masking rules resolve for this connection and the user's
        groups (the engine is shared with every session of that policy). ``pty`` turns on the
        live window-title indicator (terminal sessions only, never `run`). The session that
        gets the stage audits its failures.
        """
        if self.masking is None:
            return []
        bypass = self.roles.granting("unmasked", principal.groups)
        if bypass is not None:
            self.emit_soon(principal.name, Action.MASKING_BYPASSED, conn.name, {"group": bypass})
            return []
        scope, engine = self.masking.for_session(conn.name, principal.groups)
        return [MaskingFilter(engine, pty=pty, scope=scope)]

    def line_mask_for(self, principal: Principal, connection: str | None) -> LineMask:
        """Masks what the broker writes about a session of ``principal`` on ``connection``.

        The policy that applies to that session masks it (for the break-glass group too: its
        screen is unmasked, the audit log and command lines are not); with no known
        connection, every detector any policy enables does (fail closed).
        """
        if self.masking is None:
            return unmasked
        if connection is None or connection not in self.connections:
            return line_masker(self.masking.strictest)
        _, engine = self.masking.for_session(connection, principal.groups)
        return line_masker(engine)

    def strictest_line_mask(self) -> LineMask:
        """Masks text tied to no session: every detector any policy enables (fail closed)."""
        return unmasked if self.masking is None else line_masker(self.masking.strictest)

    def record_maskers_for(self, principal: Principal, conn: Connection) -> StreamMaskers | None:
        """Maskers of a session's recording, by stream (None when the session is not masked)."""
        if self.masking is None or self.roles.granting("unmasked", principal.groups):
            return None
        _, engine = self.masking.for_session(conn.name, principal.groups)
        return lambda stream: StreamMasker(engine, stream=stream)

    def mask_message(
        self, text: str, *, connection: str | None = None, groups: Sequence[str] = ()
    ) -> str:
        """Mask a message shown to a user (errors can quote target output).

        With the session's ``connection`` (and the user's ``groups``) the policy that applies
        there masks it; without, every detector any policy enables does (fail closed).
        """
        if self.masking is None:
            return text
        if connection is None:
            engine = self.masking.strictest
        else:
            _, engine = self.masking.for_session(connection, groups)
        masked, _ = engine.mask_text(text, stream="message")
        return masked


CLAIMED_NAME_ACTIONS = frozenset({Action.LOGIN_FAILURE, Action.IDP_LOGIN_FAILED})
"""Records whose actor is only the name a client sent, before anyone vouched for it."""
_CLAIMED = "claimed_user"


class ClaimedNamesMasked:
    """The broker's event sink, with the user names clients only claimed masked.

    A failed login's user name is any text an SSH client sent (``ssh 4111…@gatehouse``): a name
    the configuration does not list is masked as text, every detector on, with its proof under
    ``masked`` like any other masked detail. Names of configured users, and every actor of
    other records (signed in or authenticated), are kept as they are.
    """

    def __init__(
        self, inner: EventSink, mask: Callable[[], LineMask], known: Container[str]
    ) -> None:
        self.inner = inner
        self._mask = mask
        self._known = known

    @property
    def healthy(self) -> bool:
        """The inner sink's health (strict mode refuses sessions when it is not)."""
        return bool(getattr(self.inner, "healthy", True))

    async def emit(
        self, actor: str, action: Action, target: str, details: Mapping[str, Any]
    ) -> None:
        if action in CLAIMED_NAME_ACTIONS and actor not in self._known:
            masked = mask_details({**details, _CLAIMED: actor}, self._mask())
            actor = str(masked.pop(_CLAIMED))
            details = masked
        await self.inner.emit(actor, action, target, details)
