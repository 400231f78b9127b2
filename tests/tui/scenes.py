"""Every screen of the TUI with fake services and recorded sessions: for snapshots and the README.

``python -m tests.tui.scenes OUT_DIR [COLSxROWS]`` writes one SVG per screen, and one of the
command palette (what ``scripts/screenshots`` runs for the README); ``tests/tui/test_snapshots.py``
compares the same screens against the SVGs under ``tests/tui/snapshots/``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Static

from broker.identity.device import DeviceGrant
from broker.identity.principal import PENDING_NAME
from broker.review.services import Viewing
from broker.session.terminal import Principal
from recordings.store import RecordingInfo, RecordingStore, StoreMatch
from tests.support.casts import write_session
from tests.tui.approval_fakes import T0 as APPROVALS_T0
from tests.tui.approval_fakes import FakeApprovals
from tests.tui.audit_fakes import AuditServices, FakeReview, record
from tests.tui.fakes import FakeChannel
from tui.app import GatehouseApp
from tui.screens.approval_wait import WaitingScreen
from tui.screens.approvals import CommentModal
from tui.screens.signin import SignInScreen
from tui.screens.sql_console import SqlConsoleScreen

USER = Principal("dana", ("engineers", "reviewers", "auditors"))
"""Holds every role but approving, so that every other pane opens."""
APPROVER = Principal("bob", ("approvers",))
"""Works the approvals queue."""
REQUESTER = Principal("alice", ("engineers",))
"""Asks for access to a connection behind an approval rule."""
SIGNING = Principal(PENDING_NAME, (), pending_user="alice", key_fingerprint="SHA256:k")
"""A key the IdP has not vouched for yet: the sign-in screen comes first."""
SIGNIN_URI = "https://idp.example.test/device"

T0 = 1_795_000_000
"""2026-11-18 (UTC): when the recorded sessions started."""


class SceneReview(FakeReview):
    """The audit log of :func:`audit_sample` plus recordings in a real store."""

    def __init__(self, store: RecordingStore) -> None:
        super().__init__(audit_sample())
        self.store = store

    async def list_recordings(self, principal: Principal) -> list[RecordingInfo]:
        return self.store.list()

    async def search_recordings(self, principal: Principal, text: str) -> list[StoreMatch]:
        return self.store.search(text)

    async def open_recording(self, principal: Principal, session_id: str) -> Viewing:
        return Viewing(session_id, self.store.open(session_id), 0.0)

    async def close_recording(self, principal: Principal, viewing: Viewing) -> None:
        """Nothing to release."""


def audit_sample() -> list[Any]:
    """A morning of audit records: logins, sessions, a denial, a recording closed."""
    day = "2026-11-22T09"
    rows = [
        ("alice", "login.success", "", {"fingerprint": "SHA256:q8xX…", "client": "10.1.2.3"}),
        ("alice", "session.start", "web-1", {"kind": "ssh"}),
        ("alice", "command.run", "web-1", {"command": "systemctl status nginx"}),
        ("alice", "session.end", "web-1", {"exit_status": 0, "bytes_out": 18234}),
        ("alice", "recording.closed", "s-7f3a", {"sha256": "9c1e…", "bytes": 18734}),
        ("bob", "login.success", "", {"fingerprint": "SHA256:Lw0c…", "client": "10.1.2.9"}),
        ("bob", "policy.denied", "prod-db", {"rule": "default-deny"}),
        ("bob", "approval.requested", "prod-web", {"reason": "deploy hotfix"}),
        ("dana", "approval.granted", "prod-web", {"request": "r-12", "for": "bob"}),
        ("bob", "session.start", "prod-web", {"kind": "ssh", "approval": "r-12"}),
    ]
    return [
        record(i + 1, actor, action, target, details, time=f"{day}:{i * 4:02d}:{i * 7 % 60:02d}Z")
        for i, (actor, action, target, details) in enumerate(rows)
    ]


def make_store(root: Path) -> RecordingStore:
    """Three recorded sessions by three users."""
    store = RecordingStore(root)
    write_session(store, "s-7f3a", user="alice", connection="web-1", ts=T0)
    write_session(store, "s-81c2", user="bob", connection="db-1", ts=T0 + 3_600)
    write_session(store, "s-9d04", user="carol", connection="shell", ts=T0 + 86_400)
    return store


def make_app(store: RecordingStore, principal: Principal = USER) -> GatehouseApp:
    services = AuditServices(SceneReview(store))
    if principal == APPROVER:
        queue(services.approvals)
    if principal == SIGNING:
        services.sign_in = _never_vouched  # type: ignore[attr-defined]
    app = GatehouseApp(services, FakeChannel(principal=principal))  # type: ignore[arg-type]
    app.clock = lambda: APPROVALS_T0 + 754  # ages on screen do not move
    return app


def queue(approvals: FakeApprovals) -> None:
    """Four requests waiting for the approvers: access, a command, two approvals needed."""
    approvals.add("carol", "prod-web", reason="INC-4711: disk full on prod-web, clean /var/log")
    approvals.add("alice", "prod-db", reason="quarterly revenue report (FIN-88)")
    approvals.add(
        "erin", "prod-web", command="systemctl restart nginx", reason="config reload", needed=2
    )
    approvals.add("frank", "prod-cache", reason="flush stale keys after deploy 2026.11.3")


async def until(pilot: Pilot[None], condition: Callable[[], bool]) -> None:
    """Let the app run until ``condition`` holds (bounded; the badge's worker never ends, so
    waiting for every worker to finish would not)."""
    for _ in range(200):
        if condition():
            break
        await pilot.pause(0.02)
    else:
        raise AssertionError("the scene did not settle")
    await pilot.pause()


def _status(pilot: Pilot[None], selector: str) -> str:
    found = pilot.app.screen.query(selector)
    return str(found.first(Static).render()) if found else ""


async def settle(pilot: Pilot[None]) -> None:
    """Let workers finish and the screen repaint (bounded: workers here only read files)."""
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def _picker(pilot: Pilot[None]) -> None:
    await settle(pilot)


async def _audit(pilot: Pilot[None]) -> None:
    await pilot.press("a")
    await settle(pilot)


async def _audit_record(pilot: Pilot[None]) -> None:
    await _audit(pilot)
    await pilot.press("up", "up", "up", "up", "up", "enter")  # recording.closed
    await settle(pilot)


async def _recordings(pilot: Pilot[None]) -> None:
    await pilot.press("r")
    await settle(pilot)


async def _replay(pilot: Pilot[None]) -> None:
    await _recordings(pilot)
    await pilot.press("down", "enter")
    await settle(pilot)
    await pilot.press("right_square_bracket", "right_square_bracket")  # at `cat log`
    await pilot.press("right")
    await settle(pilot)


async def _sql_console(pilot: Pilot[None]) -> None:
    await pilot.app.push_screen(SqlConsoleScreen("shop-db"))
    await settle(pilot)
    await pilot.press(*"select * from customers")
    await pilot.press("f5")
    await settle(pilot)


async def _never_vouched(terminal: Any, show: Callable[[DeviceGrant], None]) -> Principal:
    """The IdP gave a code and the person has not signed in yet (nor ever will, here)."""
    show(DeviceGrant("dc", "BCDF-GHJK", SIGNIN_URI, f"{SIGNIN_URI}?user_code=BCDF-GHJK", 600.0, 5))
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def _signin(pilot: Pilot[None]) -> None:
    await until(pilot, lambda: isinstance(pilot.app.screen, SignInScreen))
    screen = pilot.app.screen
    assert isinstance(screen, SignInScreen)
    await until(pilot, lambda: screen.grant is not None)
    screen.clock = lambda: 0.0  # the code's time left does not move: 10:00
    screen.tick()
    await until(pilot, lambda: "10:00" in str(screen.query_one("#signin-status", Static).render()))
    await pilot.pause()  # the sign-in worker waits for the IdP for ever: no settle() here


async def _help(pilot: Pilot[None]) -> None:
    await pilot.press("question_mark")
    await settle(pilot)


async def _approvals(pilot: Pilot[None]) -> None:
    await until(pilot, lambda: "4 pending" in str(pilot.app.sub_title))
    await pilot.press("ctrl+o")
    await until(pilot, lambda: "4 pending requests" in _status(pilot, "#approvals-status"))
    await pilot.press("down")
    await until(pilot, lambda: "prod-db" in _status(pilot, "#approval-detail"))


async def _approval_deny(pilot: Pilot[None]) -> None:
    await _approvals(pilot)
    await pilot.press("n", *"change freeze until Monday")
    await until(pilot, lambda: isinstance(pilot.app.screen, CommentModal))


async def _approval_history(pilot: Pilot[None]) -> None:
    approvals = pilot.app.services.approvals  # type: ignore[attr-defined]
    first, second = list(approvals.requests)[:2]
    await approvals.decide("bob", ("approvers",), first, approved=True, comment="ok, 1h")
    await approvals.decide("dana", ("approvers",), second, approved=False, comment="use replica")
    await until(pilot, lambda: "2 pending" in str(pilot.app.sub_title))
    await pilot.press("ctrl+o")
    await until(pilot, lambda: "2 pending requests" in _status(pilot, "#approvals-status"))
    await pilot.press("h")
    await until(pilot, lambda: "2 decided requests" in _status(pilot, "#approvals-status"))


async def _approval_waiting(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await pilot.press(*"prod", "enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, CommentModal))
    await pilot.press(*"INC-4711 disk full", "enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, WaitingScreen))
    await until(pilot, lambda: "waiting" in _status(pilot, "#waiting-elapsed"))


SCENES: dict[str, Callable[[Pilot[None]], Awaitable[None]]] = {
    "connections": _picker,
    "audit": _audit,
    "audit-record": _audit_record,
    "recordings": _recordings,
    "replay": _replay,
    "help": _help,
    "approvals": _approvals,
    "approval-deny": _approval_deny,
    "approval-history": _approval_history,
    "approval-waiting": _approval_waiting,
    "sql-console": _sql_console,
    "signin": _signin,
}
"""Screen name → how to get there from the picker."""
SCENE_USERS = {
    "approvals": APPROVER,
    "approval-deny": APPROVER,
    "approval-history": APPROVER,
    "approval-waiting": REQUESTER,
    "signin": SIGNING,
}
"""Who is logged in for a scene (USER when not named)."""

SIZES = ((80, 24), (160, 45))


async def _palette(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await pilot.press("ctrl+p", *"conn")
    await settle(pilot)


PICTURES: dict[str, Callable[[Pilot[None]], Awaitable[None]]] = {**SCENES, "palette": _palette}
"""What the README shows: every screen, and the command palette open on the picker."""

PICTURE_SIZE = (100, 30)


async def screenshot(name: str, size: tuple[int, int], store: RecordingStore) -> str:
    """The SVG of scene ``name`` at ``size`` (columns, rows)."""
    app = make_app(store, SCENE_USERS.get(name, USER))
    async with app.run_test(size=size) as pilot:
        await PICTURES[name](pilot)
        return app.export_screenshot(title=f"Gatehouse · {name}")


async def write_all(out: Path, size: tuple[int, int]) -> list[Path]:
    """Write every picture at ``size`` into ``out`` as ``NAME.svg``; returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp))
        for name in PICTURES:
            for cols, rows in (size,):
                path = out / f"{name}.svg"
                path.write_text(await screenshot(name, (cols, rows), store), encoding="utf-8")
                written.append(path)
    return written


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2:
        print("usage: python -m tests.tui.scenes OUT_DIR [COLSxROWS]", file=sys.stderr)
        return 2
    size = PICTURE_SIZE
    if len(argv) == 2:
        cols, rows = argv[1].split("x")
        size = (int(cols), int(rows))
    for path in asyncio.run(write_all(Path(argv[0]), size)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
