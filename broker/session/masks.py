"""Which masking a session gets: its output stage, its recording, its audit lines, its messages."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from broker.auditchain.events import Action
from broker.config.model import Connection
from broker.masking import StreamMasker
from broker.masking.filter import MaskingEngines, MaskingFilter
from broker.masking.lines import LineMask, line_masker, unmasked
from broker.policy.roles import Roles
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
