"""Fakes for Pilot tests: services and a channel with no sockets behind them."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from broker.common.errors import UpstreamError
from broker.masking import MaskingEngine, MaskingPolicy
from broker.policy.roles import Roles
from broker.services import ConnectionView
from broker.session.brokered import SessionResult
from broker.session.terminal import Principal
from tests.tui.approval_fakes import FakeApprovals
from tests.tui.sql_fakes import FakeSqlConsole


@dataclass
class FakeChannel:
    principal: Principal = field(
        default_factory=lambda: Principal("alice", ("engineers", "reviewers"))
    )
    term_type: str = "xterm-256color"
    colorterm: str = ""
    cols: int = 120
    rows: int = 40
    written: list[bytes] = field(default_factory=list)
    given_back: list[bytes] = field(default_factory=list)
    """What the TUI gave back with :meth:`unread` (keys typed ahead of a session)."""
    closed: bool = False
    """Whether the client has gone."""

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def unread(self, data: bytes) -> None:
        self.given_back.append(data)


class RoleCheck:
    """The role questions of ``services.review``, answered from policy roles (today's names)."""

    def __init__(self, roles: Roles | None = None) -> None:
        self.roles = roles or Roles()

    def is_reviewer(self, principal: Principal) -> bool:
        return self.roles.holds("reviewers", principal.groups)

    def is_auditor(self, principal: Principal) -> bool:
        return self.roles.holds("auditors", principal.groups)


class FakeSession:
    def __init__(self, status: int) -> None:
        self.status = status

    async def run(self) -> SessionResult:
        return SessionResult(self.status, 10, 20, 0.5)


class FakeServices:
    """Connections as policy would show them; records what the TUI asked for."""

    def __init__(self, views: list[ConnectionView] | None = None) -> None:
        self.views = (
            views
            if views is not None
            else [
                ConnectionView("db-1", "postgres", "app@10.0.0.5:5432/shop", "orders", False, "r"),
                ConnectionView("prod-web", "ssh", "deploy@prod:22", "", True, "p"),
                ConnectionView("shell", "local", "bash -l", "broker shell", False, "r"),
                ConnectionView("web-1", "ssh", "deploy@127.0.0.1:22", "staging web", False, "r"),
            ]
        )
        self.opened: list[str] = []
        self.fail_with: Exception | None = None
        self.masking = MaskingEngine(MaskingPolicy(), key=b"k" * 32)  # the real engine
        self.masked_for: list[tuple[str | None, tuple[str, ...]]] = []
        self.review: Any = RoleCheck()
        self.approvals = FakeApprovals()
        self.background: set[asyncio.Task[None]] = set()
        self.asks: list[Any] = []

    def mask_message(
        self, text: str, *, connection: str | None = None, groups: tuple[str, ...] = ()
    ) -> str:
        self.masked_for.append((connection, tuple(groups)))
        masked, _ = self.masking.mask_text(text, stream="message")
        return masked

    def spawn(self, work: Coroutine[Any, Any, None], *, essential: bool = True) -> None:
        """Run ``work`` in the background, kept until it is done (as the facade does)."""
        task = asyncio.get_running_loop().create_task(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def connections_for(self, principal: Principal) -> list[ConnectionView]:
        return list(self.views)

    def is_approver(self, principal: Principal) -> bool:
        return "approvers" in principal.groups

    async def open_terminal(
        self, principal: Principal, name: str, channel: Any, ask: Any = None
    ) -> FakeSession:
        self.asks.append(ask)
        needs = any(v.name == name and v.needs_approval for v in self.views)
        if needs and ask is not None:
            await self.approvals.clear(principal.name, name, ask)
        self.opened.append(name)
        if self.fail_with is not None:
            raise self.fail_with
        return FakeSession(0)

    async def open_sql_console(
        self, principal: Principal, name: str, size: Any = None
    ) -> FakeSqlConsole:
        self.opened.append(name)
        if self.fail_with is not None:
            raise self.fail_with
        return FakeSqlConsole(name)


def unreachable() -> Exception:
    return UpstreamError("web-1: cannot connect to 127.0.0.1:1: Connection refused")
