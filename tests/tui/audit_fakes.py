"""Fakes for the audit pane's Pilot tests: a review service holding records in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import Input, Static

from broker.auditchain.record import AuditRecord
from broker.auditlog.query import RecordFilter, RecordView
from broker.common.errors import PolicyDenied
from broker.review.audit import LiveVerifier
from broker.session.terminal import Principal
from tests.tui.fakes import FakeChannel, FakeServices, RoleCheck
from tui.app import GatehouseApp
from tui.screens.audit import AuditScreen
from tui.widgets.audit_table import AuditTable

AUDITOR = Principal("carol", ("auditors",))
ENGINEER = Principal("alice", ("engineers",))


def record(
    seq: int,
    actor: str = "alice",
    action: str = "command.run",
    target: str = "shell",
    details: dict[str, Any] | None = None,
    time: str = "",
) -> AuditRecord:
    """A record as the writer would produce it (the fake decides what verifying it finds)."""
    return AuditRecord(
        seq=seq,
        time=time or f"2026-11-22T10:{seq // 60 % 60:02d}:{seq % 60:02d}.000000Z",
        actor=actor,
        action=action,
        target=target,
        details=details if details is not None else {"command": f"echo {seq}"},
        prev="0" * 64,
        key_id="0" * 16,
        sig="c2ln",
    )


def sample() -> list[AuditRecord]:
    """A small log: logins, runs by two users on two targets, a denial."""
    return [
        record(1, "alice", "login.success", "", {"fingerprint": "SHA256:abc", "client": "::1"}),
        record(2, "alice", "command.run", "shell", {"command": "echo hi", "client": "::1"}),
        record(3, "bob", "login.failure", "", {"reason": "unknown key", "client": "::1"}),
        record(4, "bob", "command.run", "web-1", {"command": "uptime"}),
        record(5, "bob", "policy.denied", "prod-1", {"rule": "default-deny"}),
        record(6, "alice", "session.end", "shell", {"exit_status": 0, "bytes_in": 3}),
    ]


class FakeReview(RoleCheck):
    """The audit half of :class:`broker.review.services.ReviewServices`, in memory."""

    def __init__(self, records: list[AuditRecord] | None = None) -> None:
        super().__init__()
        self.records = list(records if records is not None else sample())
        self.problems: dict[int, str] = {}
        """seq → why that record fails verification."""
        self.malformed: list[bytes] = []
        """Lines that do not parse, shown after the records."""
        self.queries: list[tuple[RecordFilter, int]] = []
        self.listeners: list[Callable[[Any], None]] = []
        self.unsubscribed = 0
        self.keep_written = True
        """False: records reported as written are never found when read back."""
        self.due = asyncio.Event()
        """While set, live records are read back at once; clear it to hold read-backs."""
        self.due.set()
        self.polls = 0
        """Read-backs that were due."""

    async def audit_records(
        self, principal: Principal, where: RecordFilter, limit: int = 500
    ) -> list[RecordView]:
        if not self.is_auditor(principal):
            raise PolicyDenied("the audit log is for the auditors group", rule="auditors")
        self.queries.append((where, limit))
        views = [self._view(r) for r in self.records if where.matches(r)]
        views += [
            RecordView(None, line, "0001.jsonl", False, "malformed JSON") for line in self.malformed
        ]
        return views[-limit:]

    def _view(self, rec: AuditRecord) -> RecordView:
        problem = self.problems.get(rec.seq)
        return RecordView(rec, rec.line(), "0001.jsonl", problem is None, problem or "verified")

    def watch_audit(
        self, principal: Principal, listener: Callable[[Any], None]
    ) -> Callable[[], None]:
        if not self.is_auditor(principal):
            raise PolicyDenied("the audit log is for the auditors group", rule="auditors")
        self.listeners.append(listener)

        def unsubscribe() -> None:
            self.listeners.remove(listener)
            self.unsubscribed += 1

        return unsubscribe

    def live_verifier(self, principal: Principal, where: RecordFilter) -> LiveVerifier:
        """The real verifier, reading back from this fake, polled by :attr:`due`."""
        return LiveVerifier(lambda limit: self.audit_records(principal, where, limit), self.poll)

    async def poll(self) -> None:
        await self.due.wait()
        self.polls += 1

    def write(self, rec: AuditRecord) -> None:
        """A record became durable: store it (unless told not to) and tell the listeners."""
        if self.keep_written:
            self.records.append(rec)
        for listener in list(self.listeners):
            listener(rec)


class AuditServices(FakeServices):
    """Picker services plus the fake review service."""

    def __init__(self, review: FakeReview | None = None) -> None:
        super().__init__()
        self.review = review or FakeReview()


def make_app(
    principal: Principal = AUDITOR, review: FakeReview | None = None
) -> tuple[GatehouseApp, FakeReview]:
    """An app for ``principal`` on fake services; returns it and its review fake."""
    services = AuditServices(review)
    app = GatehouseApp(services, FakeChannel(principal=principal))  # type: ignore[arg-type]
    return app, services.review


# -- Pilot helpers shared by the audit pane's tests ----------------------------------------

SIZE = (140, 40)


def rows(app: GatehouseApp) -> list[tuple[str, ...]]:
    table = app.screen.query_one(AuditTable)
    return [tuple(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


def seqs(app: GatehouseApp) -> list[str]:
    return [row[0] for row in rows(app)]


def status(app: GatehouseApp) -> str:
    return str(app.screen.query_one("#audit-status", Static).render())


def notes_of(app: GatehouseApp, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    notes: list[str] = []
    monkeypatch.setattr(app, "notify", lambda message, **kw: notes.append(str(message)))
    return notes


async def settle(pilot: Any) -> None:
    """Let queued messages be handled and the workers they started (reads, read-backs) end."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_pane(pilot: Any) -> None:
    await pilot.press("a")
    await settle(pilot)
    assert isinstance(pilot.app.screen, AuditScreen)


async def set_filter(pilot: Any, **fields: str) -> None:
    """Type the given filter fields and press Enter in the last one."""
    screen = pilot.app.screen
    last = None
    for name, value in fields.items():
        box = screen.query_one(f"#audit-{name}", Input)
        box.value = value
        last = box
    assert last is not None
    last.focus()
    await pilot.press("enter")
    await settle(pilot)
