"""The broker's service facade: the only broker surface the TUI (and the SSH front door) calls."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from broker.config import Config, Connection
from broker.errors import (
    ApprovalRequired,
    GatehouseError,
    HostKeyMismatch,
    PolicyDenied,
    UpstreamError,
)
from broker.policy.access import Decision, decide_access, decide_command
from broker.policy.loader import PolicySet
from broker.proxy import ssh as ssh_proxy
from broker.proxy.base import OutputCallback, OutputFilter, Upstream
from broker.proxy.local import LocalUpstream
from broker.proxy.relay import Relay
from broker.review import ReviewServices
from broker.server.channel import Principal, TerminalChannel
from broker.vault import Vault

log = logging.getLogger(__name__)


class EventSink(Protocol):
    """Where the broker reports what happened (the audit log)."""

    async def emit(
        self, actor: str, action: str, target: str, details: Mapping[str, Any]
    ) -> None: ...


class LogEvents:
    """An EventSink that only logs (used until the audit log is wired in, and in tests)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, dict[str, Any]]] = []

    async def emit(self, actor: str, action: str, target: str, details: Mapping[str, Any]) -> None:
        self.events.append((actor, action, target, dict(details)))
        log.info("event %s %s %s", actor, action, target)


FilterFactory = Callable[[Principal, Connection], Sequence[OutputFilter]]


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


@dataclass(frozen=True)
class SessionResult:
    """How a relayed session ended."""

    exit_status: int
    bytes_in: int
    bytes_out: int
    seconds: float


class Services:
    """Everything a session may ask of the broker, checked against policy."""

    def __init__(
        self,
        config: Config,
        policies: PolicySet,
        vault: Vault,
        events: EventSink | None = None,
        filters: FilterFactory | None = None,
    ) -> None:
        self.config = config
        self.policies = policies
        self.vault = vault
        self.events: EventSink = events or LogEvents()
        self._filters = filters or (lambda principal, conn: ())
        self._tasks: set[asyncio.Task[None]] = set()
        state = config.state_dir
        self.review = ReviewServices(state / "recordings", state / "audit", state, self.events.emit)

    def emit_soon(self, actor: str, action: str, target: str, details: Mapping[str, Any]) -> None:
        """Record an event from synchronous code (kept, reaped, failures logged)."""
        task = asyncio.get_running_loop().create_task(
            self.events.emit(actor, action, target, details)
        )
        self._tasks.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("event could not be recorded: %r", task.exception())

    async def settle(self) -> None:
        """Wait for events recorded with :meth:`emit_soon`."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    # -- policy -------------------------------------------------------------

    def decide(self, principal: Principal, name: str) -> Decision:
        """The access decision for ``principal`` on connection ``name``."""
        return decide_access(self.policies.access, principal.groups, name)

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

    async def authorize(self, principal: Principal, name: str) -> Connection:
        """The connection ``name`` if policy lets ``principal`` open it now.

        Raises:
            PolicyDenied: unknown connection, or denied (naming the rule).
            ApprovalRequired: policy asks for an approval first.
        """
        if not getattr(self.events, "healthy", True):
            raise GatehouseError("the audit log cannot be written; no new sessions (strict mode)")
        conn = self.config.connections.get(name)
        if conn is None:
            await self._deny(principal, name, "unknown-connection")
            raise PolicyDenied(f"unknown connection {name!r}", rule="unknown-connection")
        decision = self.decide(principal, name)
        if decision.action == "deny":
            await self._deny(principal, name, decision.rule)
            raise PolicyDenied(
                f"access to {name!r} denied by rule {decision.rule!r}", rule=decision.rule
            )
        if decision.action == "approval":
            await self._deny(principal, name, decision.rule, reason="approval required")
            raise ApprovalRequired(
                f"access to {name!r} needs an approval (rule {decision.rule!r})",
                rule=decision.rule,
            )
        return conn

    async def _deny(self, principal: Principal, name: str, rule: str, reason: str = "") -> None:
        details = {"rule": rule, "client": principal.client_addr}
        if reason:
            details["reason"] = reason
        await self.events.emit(principal.name, "policy.denied", name, details)

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
                "upstream.host_key_mismatch",
                conn.name,
                {"host": f"{conn.host}:{conn.port}", "client": principal.client_addr},
            )
            raise exc from None
        except GatehouseError as exc:
            await self.events.emit(
                principal.name,
                "session.failed",
                conn.name,
                {"reason": str(exc), "client": principal.client_addr},
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
            argv: Sequence[str] = conn.command
            if command is not None:
                argv = [*conn.command, "-c", command] if term_type is None else conn.command
            return LocalUpstream.start(argv, on_output, term_type=term_type, size=size)
        if conn.type == "ssh":
            client = await ssh_proxy.connect(conn, self.vault.get(conn.credential))
            return await ssh_proxy.SshUpstream.open(
                client, on_output, command=command, term_type=term_type, size=size
            )
        raise UpstreamError(f"{conn.name}: a {conn.type} connection has no terminal; use sql")

    async def open_terminal(
        self, principal: Principal, name: str, channel: TerminalChannel
    ) -> OpenSession:
        """Authorize and open a terminal session on ``name``; relay it with ``run()``.

        Raises:
            PolicyDenied, ApprovalRequired, UpstreamError, VaultError.
        """
        conn = await self.authorize(principal, name)
        session = OpenSession(self, principal, conn, channel)
        session.upstream = await self._open(
            principal,
            conn,
            session.relay.on_output,
            command=None,
            term_type=channel.term_type or "xterm-256color",
            size=(channel.cols, channel.rows),
        )
        await self.events.emit(
            principal.name,
            "session.start",
            name,
            {"kind": "terminal", "client": principal.client_addr},
        )
        return session

    async def terminal(
        self, principal: Principal, name: str, channel: TerminalChannel
    ) -> SessionResult:
        """Open and relay a terminal session on ``name`` until the target shell exits."""
        session = await self.open_terminal(principal, name, channel)
        return await session.run()

    async def run(
        self, principal: Principal, name: str, command: str, channel: TerminalChannel
    ) -> SessionResult:
        """Run one command on ``name``, stdout and stderr apart; returns its exit status.

        Raises:
            PolicyDenied, ApprovalRequired, UpstreamError, VaultError.
        """
        conn = await self.authorize(principal, name)
        verdict = decide_command(self.policies.commands, principal.groups, name, command)
        if verdict.action != "allow":
            await self._deny(principal, name, verdict.rule, reason=f"command {verdict.action}")
            if verdict.action == "approval":
                raise ApprovalRequired(
                    f"this command on {name!r} needs an approval (rule {verdict.rule!r})",
                    rule=verdict.rule,
                )
            raise PolicyDenied(f"command denied by rule {verdict.rule!r}", rule=verdict.rule)
        relay = Relay(channel, self._filters(principal, conn), split_stderr=True)
        started = time.monotonic()
        upstream = await self._open(
            principal,
            conn,
            relay.on_output,
            command=command,
            term_type=None,
            size=(channel.cols, channel.rows),
        )
        await self.events.emit(
            principal.name,
            "command.run",
            name,
            {"command": command, "client": principal.client_addr},
        )
        status = await relay.run(upstream)
        result = SessionResult(status, relay.bytes_in, relay.bytes_out, time.monotonic() - started)
        await self.events.emit(principal.name, "session.end", name, _session_details(result))
        if relay.failure is not None:
            raise GatehouseError("command ended: output could not be filtered safely")
        return result


class OpenSession:
    """A terminal session whose upstream is open, ready to be relayed."""

    def __init__(
        self, services: Services, principal: Principal, conn: Connection, channel: TerminalChannel
    ) -> None:
        self.services = services
        self.principal = principal
        self.conn = conn
        self.commands: list[str] = []
        self.relay = Relay(channel, services._filters(principal, conn), on_command=self._on_command)
        self.upstream: Upstream | None = None
        self.started = time.monotonic()

    def _on_command(self, line: str) -> str | None:
        """A command line was entered: audit it; return a refusal if a command rule forbids it."""
        services, who = self.services, self.principal
        verdict = decide_command(services.policies.commands, who.groups, self.conn.name, line)
        self.commands.append(line)
        details: dict[str, Any] = {
            "command": line,
            "decision": verdict.action,
            "rule": verdict.rule,
        }
        services.emit_soon(who.name, "command.line", self.conn.name, details)
        if verdict.action == "allow":
            return None
        return f"command {'needs an approval' if verdict.action == 'approval' else 'denied'} by rule {verdict.rule!r}"

    async def run(self) -> SessionResult:
        """Relay until the target shell exits; returns how it ended."""
        assert self.upstream is not None, "open_terminal() opens the upstream first"
        status = await self.relay.run(self.upstream)
        relay = self.relay
        result = SessionResult(
            status, relay.bytes_in, relay.bytes_out, time.monotonic() - self.started
        )
        emit = self.services.events.emit
        await self.services.settle()
        await emit(self.principal.name, "session.end", self.conn.name, _session_details(result))
        if relay.failure is not None:
            raise GatehouseError("session ended: output could not be filtered safely")
        return result


def _session_details(result: SessionResult) -> dict[str, Any]:
    return {
        "exit_status": result.exit_status,
        "bytes_in": result.bytes_in,
        "bytes_out": result.bytes_out,
        "seconds": round(result.seconds, 3),
    }
