"""The broker's service facade: the only broker surface the TUI (and the SSH front door) calls."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from broker.approvals.asks import Ask
from broker.approvals.core import Grant
from broker.approvals.gate import admitting_grant, terminal_judge
from broker.approvals.service import ApprovalService
from broker.approvals.terms import approver_groups, command_terms
from broker.approvals.webhook import webhook_notify
from broker.auditchain.context import stamped
from broker.auditchain.events import Action
from broker.common.errors import (
    ApprovalRequired,
    GatehouseError,
    HostKeyMismatch,
    PolicyDenied,
    UpstreamError,
)
from broker.config.model import Config, Connection
from broker.identity.device import DeviceGrant
from broker.identity.errors import SignInError
from broker.identity.principal import sign_in_terminal
from broker.identity.service import sign_in_from
from broker.masking.filter import MaskingEngines
from broker.masking.lines import mask_details
from broker.policy.access import Decision, decide_access
from broker.policy.commands import decide_command, describe
from broker.policy.loader import PolicySet
from broker.recording.recorder import RecorderLink
from broker.review.services import ReviewServices
from broker.session.brokered import BrokeredSession, SessionResult
from broker.session.factory import SessionFactory, recorder_starter
from broker.session.masks import ClaimedNamesMasked, SessionMasking
from broker.session.ports import BackgroundEvents, CommandPolicy, EventSink
from broker.session.sqlentry import SqlEntry
from broker.session.terminal import Principal, Terminal
from broker.upstream import ssh as ssh_proxy
from broker.upstream.base import OutputCallback, Upstream
from broker.upstream.local import open_local
from broker.vault import Vault

log = logging.getLogger(__name__)


class LogEvents:
    """An EventSink that only logs (used until the audit log is wired in, and in tests)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Action, str, dict[str, Any]]] = []

    async def emit(
        self, actor: str, action: Action, target: str, details: Mapping[str, Any]
    ) -> None:
        self.events.append((actor, action, target, stamped(details)))
        log.info("event %s %s %s", actor, action, target)


@dataclass(frozen=True)
class ConnectionView:
    """A connection as a user may see it in the picker."""

    name: str
    type: str
    target: str
    description: str
    needs_approval: bool
    """Policy says `approval` for this user."""
    rule: str
    """The rule that decided."""


class Services(SqlEntry):
    """Everything a session may ask of the broker, checked against policy.

    Background work (``spawn``, ``settle``, ``cancel_optional``) is :class:`BackgroundWork`'s;
    ``sql`` and ``open_sql_console`` are :class:`SqlEntry`'s; which masking a session gets is
    :class:`SessionMasking`'s (``masks``).
    """

    def __init__(
        self,
        config: Config,
        policies: PolicySet,
        vault: Vault,
        events: EventSink | None = None,
        masking: MaskingEngines | None = None,
    ) -> None:
        self.config = config
        self.policies = policies
        self.vault = vault
        self.events: EventSink = events or LogEvents()
        self.masking = masking
        super().__init__()
        self.masks = SessionMasking(masking, policies.roles, config.connections, self.emit_soon)
        """Which masking each session, recording, audit line and message gets."""
        self.events = ClaimedNamesMasked(self.events, self.masks.strictest_line_mask, config.users)
        self.clock: Callable[[], float] = time.time
        """The time policy decides at (time windows); tests may set another."""
        state = config.state_dir
        self.review = ReviewServices(
            state / "recordings", state / "audit", state, self.events.emit, roles=policies.roles
        )
        self.recorders = RecorderLink(config.recording.quota, state / "recordings")
        """The recorder process every session's recording goes through."""
        self.sessions = SessionFactory(
            events=BackgroundEvents(self.events, self.spawn),
            spawn=self.spawn,
            start_recorder=recorder_starter(self.recorders, self.review.store),
            strict_recording=config.recording.strict,
        )
        """Builds every session from the collaborators above (it never calls back here)."""
        notify = webhook_notify(config.approvals_webhook, self.spawn)
        self.approvals = ApprovalService(
            state,
            self.events.emit,
            notify=notify,
            mask=self.mask_message,
            expire_after=config.approvals_expire_after,
        )
        """Approval requests, decisions and grants (shared by every broker process)."""
        self.signin = sign_in_from(config, vault, self.events.emit)
        """Sign-in with the organisation's IdP (None without `oidc` in the config)."""

    async def sign_in(self, terminal: Terminal, show: Callable[[DeviceGrant], None]) -> Principal:
        """Run the device flow for a session whose principal is pending (the TUI's sign-in).

        Returns:
            The signed-in principal, also set on ``terminal`` and stamped on the session's records.

        Raises:
            SignInError: refused, denied, expired or the IdP unreachable (already audited).
        """
        if self.signin is None:
            raise SignInError("not_pending", "no sign-in is pending for this session")
        return await sign_in_terminal(self.signin, terminal, show, self.emit_soon)

    def emit_soon(
        self, actor: str, action: Action, target: str, details: Mapping[str, Any]
    ) -> None:
        """Record an event from synchronous code (kept, reaped, failures logged)."""
        self.spawn(self.events.emit(actor, action, target, details))

    def mask_message(
        self, text: str, *, connection: str | None = None, groups: Sequence[str] = ()
    ) -> str:
        """Mask a message shown to a user (:meth:`SessionMasking.mask_message`)."""
        return self.masks.mask_message(text, connection=connection, groups=groups)

    # -- policy -------------------------------------------------------------

    def decide(self, principal: Principal, name: str) -> Decision:
        """The access decision for ``principal`` on connection ``name``."""
        return decide_access(self.policies.access, principal.groups, name, self.clock())

    def connections_for(self, principal: Principal) -> list[ConnectionView]:
        """Connections the user may open now or after an approval, sorted by name."""
        views = []
        for conn in sorted(self.config.connections.values(), key=lambda c: c.name):
            decision = self.decide(principal, conn.name)
            if decision.action == "deny":
                continue
            views.append(
                ConnectionView(
                    name=conn.name,
                    type=conn.type,
                    target=conn.target,
                    description=conn.description,
                    needs_approval=decision.action == "approval",
                    rule=decision.rule,
                )
            )
        return views

    def is_approver(self, principal: Principal) -> bool:
        """Whether some approval rule lets ``principal``'s groups decide requests."""
        return bool(approver_groups(self.policies) & set(principal.groups))

    async def authorize(
        self, principal: Principal, name: str, ask: Ask | None = None
    ) -> Connection:
        """The connection ``name`` if policy lets ``principal`` open it now (an approval rule:
        with a grant, or once ``ask`` got one).

        Raises:
            PolicyDenied: unknown connection, or denied (naming the rule).
            ApprovalRequired: no grant (ApprovalPending: asked, not waited for; ApprovalRefused).
        """
        conn, _, _ = await self._admit(principal, name, ask)
        return conn

    async def _admit(
        self, principal: Principal, name: str, ask: Ask | None
    ) -> tuple[Connection, Grant | None, Decision]:
        """:meth:`authorize`, also returning the grant that let the user in and the decision."""
        if not getattr(self.events, "healthy", True):
            raise GatehouseError("the audit log cannot be written; no new sessions (strict mode)")
        conn = self.config.connections.get(name)
        if conn is None:
            await self._deny(principal, name, "unknown-connection")
            raise PolicyDenied(f"unknown connection {name!r}", rule="unknown-connection")
        decision = self.decide(principal, name)
        if decision.action == "deny":
            await self._deny(principal, name, decision.rule, reason=decision.reason)
            why = f" ({decision.reason})" if decision.reason else ""
            raise PolicyDenied(
                f"access to {name!r} denied by rule {decision.rule!r}{why}", rule=decision.rule
            )
        if decision.action == "approval":
            grant = await admitting_grant(
                self.approvals, self.policies, principal.name, name, decision, ask
            )
            if grant is None:
                await self._deny(principal, name, decision.rule, reason="approval required")
                raise ApprovalRequired(
                    f"access to {name!r} needs an approval (rule {decision.rule!r})",
                    rule=decision.rule,
                )
            return conn, grant, decision
        return conn, None, decision

    async def _deny(
        self, principal: Principal, name: str, rule: str, reason: str = "", command: str = ""
    ) -> None:
        details = {"rule": rule, "client": principal.client_addr}
        if reason:
            details["reason"] = reason
        if command:
            details["command"] = command
        mask = self.masks.line_mask_for(principal, name)
        target = name
        if name not in self.config.connections:  # what the user asked for, not a name we know
            details["requested"] = name
        masked = mask_details(details, mask)
        target = masked.pop("requested", target)
        await self.events.emit(principal.name, Action.POLICY_DENIED, target, masked)

    # -- sessions -------------------------------------------------------------

    async def _open(
        self,
        principal: Principal,
        conn: Connection,
        on_output: OutputCallback,
        *,
        command: str | None,
        term_type: str | None,
        size: tuple[int, int],
    ) -> Upstream:
        try:
            return await self._open_upstream(
                conn, on_output, command=command, term_type=term_type, size=size
            )
        except HostKeyMismatch as exc:
            await self.events.emit(
                principal.name,
                Action.HOST_KEY_MISMATCH,
                conn.name,
                {"host": f"{conn.host}:{conn.port}", "client": principal.client_addr},
            )
            raise exc from None
        except GatehouseError as exc:
            details = {"reason": str(exc), "client": principal.client_addr}
            await self.events.emit(
                principal.name,
                Action.SESSION_FAILED,
                conn.name,
                mask_details(details, self.masks.line_mask_for(principal, conn.name)),
            )
            raise

    async def _open_upstream(
        self,
        conn: Connection,
        on_output: OutputCallback,
        *,
        command: str | None,
        term_type: str | None,
        size: tuple[int, int],
    ) -> Upstream:
        if conn.type == "local":
            # as its run_as account; `run`'s command only as the connection's `accepts` says
            return open_local(conn, command, on_output, term_type=term_type, size=size)
        if conn.type == "ssh":
            client = await ssh_proxy.connect(conn, self.vault.get(conn.credential))
            return await ssh_proxy.SshUpstream.open(
                client, on_output, command=command, term_type=term_type, size=size
            )
        raise UpstreamError(f"{conn.name}: a {conn.type} connection has no terminal; use sql")

    def _command_policy(self, principal: Principal, conn: Connection) -> CommandPolicy:
        """The command rules for ``principal`` on ``conn``, as a session's judge."""
        return terminal_judge(
            self.approvals, self.policies, self.spawn, principal.name, principal.groups, conn.name
        )

    async def _open_session(
        self,
        principal: Principal,
        conn: Connection,
        terminal: Terminal,
        command: str | None = None,
    ) -> BrokeredSession:
        """Build, open and start a session on an authorized ``conn`` (a `run` with ``command``)."""
        return await self.sessions.open(
            principal,
            conn.name,
            terminal,
            "terminal" if command is None else "run",
            open_upstream=functools.partial(self._open, principal, conn),
            command_policy=self._command_policy(principal, conn),
            maskers=functools.partial(self.masks.maskers_for, principal, conn, pty=command is None),
            command=command,
            mask_line=self.masks.line_mask_for(principal, conn.name),
            record_maskers=self.masks.record_maskers_for(principal, conn),
        )

    async def open_terminal(
        self, principal: Principal, name: str, channel: Terminal, ask: Ask | None = None
    ) -> BrokeredSession:
        """Authorize and open a terminal session on ``name``; relay it with ``run()``.

        Raises:
            PolicyDenied, ApprovalRequired, UpstreamError, VaultError, GatehouseError.
        """
        conn, grant, decision = await self._admit(principal, name, ask)
        session = await self._open_session(principal, conn, channel)
        self._bound_by(session, grant, decision)
        return session

    def _bound_by(self, session: BrokeredSession, grant: Grant | None, decision: Decision) -> None:
        """An access grant's end or revocation, or the close of the deciding rule's time
        window, ends the session (with a warning)."""
        if grant is not None:
            session.ends_at = grant.end
            session.grant_revoked = functools.partial(
                self.approvals.grants.revoked, grant.request_id
            )
        if decision.until is not None and (grant is None or decision.until < grant.end):
            session.ends_at = decision.until
            session.end_what = f"access window of rule {decision.rule!r}"

    async def terminal(
        self, principal: Principal, name: str, channel: Terminal, ask: Ask | None = None
    ) -> SessionResult:
        """Open and relay a terminal session on ``name`` until the target shell exits."""
        session = await self.open_terminal(principal, name, channel, ask)
        return await session.run()

    async def run(
        self,
        principal: Principal,
        name: str,
        command: str,
        channel: Terminal,
        ask: Ask | None = None,
    ) -> SessionResult:
        """Run one command on ``name``, stdout and stderr apart; returns its exit status.

        With ``ask``, approvals (the connection's, then the command's) are requested and waited
        for; ``ask.request_id`` must be the user's request for exactly this (command).

        Raises:
            PolicyDenied, ApprovalRequired, UpstreamError, VaultError, GatehouseError.
        """
        if ask is not None and ask.request_id is not None:
            await self.approvals.check_request(principal.name, name, command, ask.request_id)
        conn, grant, decision = await self._admit(principal, name, ask)
        verdict = await asyncio.to_thread(  # a long line takes the parser a while
            decide_command,
            self.policies.commands,
            principal.groups,
            name,
            command,
            self.policies.interpreters,
        )
        if verdict.action == "approval" and ask is not None:
            terms = command_terms(self.policies, verdict.rule)
            await self.approvals.clear(principal.name, name, command, terms, ask)
        elif verdict.action != "allow":
            reason = f"command {verdict.action}" + (f": {verdict.reason}" if verdict.reason else "")
            await self._deny(principal, name, verdict.rule, reason=reason, command=command)
            if verdict.action == "approval":
                raise ApprovalRequired(
                    f"this command on {name!r} needs an approval (rule {verdict.rule!r})",
                    rule=verdict.rule,
                )
            raise PolicyDenied(describe(verdict), rule=verdict.rule)
        session = await self._open_session(principal, conn, channel, command)
        self._bound_by(session, grant, decision)
        return await session.run()
