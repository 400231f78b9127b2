"""The facade's SQL entry points: `sql` (one statement's results) and the SQL console."""

from __future__ import annotations

from broker.approvals.asks import Ask
from broker.approvals.service import ApprovalService
from broker.approvals.terms import sql_terms
from broker.common.background import BackgroundWork
from broker.common.errors import ApprovalRequired, UpstreamError
from broker.config.model import Config, Connection
from broker.policy.loader import PolicySet
from broker.policy.sql import SqlDecision
from broker.session.factory import SessionFactory
from broker.session.masks import SessionMasking
from broker.session.ports import EventSink
from broker.session.sql import SqlOutput, SqlRequest, run_sql
from broker.session.sqlconsole import SqlConsole
from broker.session.sqlheld import StatementApprovals
from broker.session.sqlopen import open_console
from broker.session.terminal import Principal
from broker.vault import Vault


class SqlEntry(BackgroundWork):
    """`sql` and `open_sql_console` of the service facade, which supplies what they use.

    The facade (``Services``) sets the attributes below and implements :meth:`authorize`.
    """

    config: Config
    policies: PolicySet
    vault: Vault
    events: EventSink
    masks: SessionMasking
    sessions: SessionFactory
    approvals: ApprovalService

    async def authorize(
        self, principal: Principal, name: str, ask: Ask | None = None
    ) -> Connection:
        """The connection ``name`` if policy lets ``principal`` open it now (the facade's)."""
        raise NotImplementedError

    async def sql(
        self,
        principal: Principal,
        name: str,
        text: str,
        fmt: str,
        out: SqlOutput,
        ask: Ask | None = None,
    ) -> int:
        """Run SQL on the postgres connection ``name``; masked results go to ``out``.

        With ``ask``, a statement an `approval` SQL rule holds is requested and waited for (as a
        command is); ``ask.request_id`` must be the user's request for exactly this text.

        Raises:
            PolicyDenied, ApprovalRequired, UpstreamError, VaultError, GatehouseError.
        """
        if ask is not None and ask.request_id is not None:
            await self.approvals.check_request(principal.name, name, text, ask.request_id)
        conn = await self.authorize(principal, name, ask)
        if conn.type != "postgres":
            raise UpstreamError(f"{name}: a {conn.type} connection takes no SQL; use run")
        maskers = self.masks.maskers_for(principal, conn)  # none for the unmasked role (audited)

        async def approve(decision: SqlDecision) -> str:
            if ask is None:
                raise ApprovalRequired(
                    f"this statement on {name!r} needs an approval (rule {decision.rule!r})",
                    rule=decision.rule,
                )
            terms = sql_terms(self.policies, decision.rule)
            grant = await self.approvals.clear(principal.name, name, text, terms, ask)
            return grant.request_id

        return await run_sql(
            SqlRequest(principal, conn, text, fmt),
            rules=self.policies.sql,
            secret=self.vault.get(conn.credential),
            engine=maskers[0].engine if maskers else None,
            audit_mask=self.masks.line_mask_for(principal, conn.name),
            events=self.events,
            out=out,
            approve=approve,
        )

    async def open_sql_console(
        self, principal: Principal, name: str, size: tuple[int, int] = (160, 45)
    ) -> SqlConsole:
        """Authorize and open a SQL console on the postgres connection ``name`` (recorded).

        Statements an `approval` SQL rule holds are asked for and waited for as `sql` does.

        Raises:
            PolicyDenied, ApprovalRequired, UpstreamError, VaultError, GatehouseError.
        """
        conn = await self.authorize(principal, name)
        if conn.type != "postgres":
            raise UpstreamError(f"{name}: a {conn.type} connection has no SQL console")
        maskers = self.masks.maskers_for(principal, conn)  # none for the unmasked role (audited)
        return await open_console(
            principal,
            conn,
            secret=self.vault.get(conn.credential),
            rules=self.policies.sql,
            engine=maskers[0].engine if maskers else None,
            audit_mask=self.masks.line_mask_for(principal, conn.name),
            events=self.events,
            spawn=self.spawn,
            start_recorder=self.sessions.start_recorder,
            strict_recording=self.config.recording.strict,
            size=size,
            approvals=StatementApprovals(self.approvals, self.policies, principal.name, conn.name),
        )
