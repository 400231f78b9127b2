"""Text from users, targets and files is shown literally everywhere in the TUI: never markup.

Each property feeds hostile text (console markup that would run an action on click, links,
styles, escape sequences) to one pane through fake services and asserts, on what the screen
renders, that the brackets are shown as typed, no escape sequence reaches the terminal,
nothing on screen carries an action, and a click on the text runs none.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rich.segment import Segment
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable, OptionList, Static
from textual.widgets._toast import Toast

from broker.auditlog.query import RecordFilter
from broker.common.errors import UpstreamError
from broker.common.text import escape_controls, has_controls
from broker.services import ConnectionView
from broker.session.terminal import Principal
from recordings.asciicast import Header, SessionMeta
from recordings.store import RecordingStore
from tests.tui.audit_fakes import AUDITOR, FakeReview, make_app, record
from tests.tui.fakes import FakeChannel, FakeServices
from tests.tui.replay_fakes import FakeServicesWithReview, PlayerApp
from tui.app import GatehouseApp
from tui.screens.audit import AuditDetailScreen, AuditScreen
from tui.screens.recordings import RecordingsScreen
from tui.screens.replay import ReplayScreen

SIZE = (400, 50)
DROP = Path(tempfile.gettempdir()) / f"gh-drop-{os.getpid()}-{secrets.token_hex(4)}"
"""Where the planted action would write its file (made for this module's tests)."""
CLICK = f'[@click=app.screenshot("x.svg","{DROP}")]click-me[/]'
FRAGMENTS = [
    CLICK,
    "[@click=app.quit]quit[/]",
    "[@mouse.up=app.bell]up[/]",
    "[b]bold[/b]",
    "[link=https://evil.example/]link[/link]",
    "[red on blue]colour",
    "[/]",
    "\\[not-escaped]",
    "[dim",
    "\x1b[2J\x1b[H",  # clear screen, home
    "\x1b]52;c;aGk=\x07",  # OSC 52: write the clipboard
    "\x1b]0;title\x1b\\",  # OSC: window title
    "\r\x1b[2K",  # erase the line
    "\x9b31m",  # 8-bit CSI
    "rtl\u202egnp.exe",
    "\x00\x07\x08",
]
hostile = (
    st.lists(
        st.one_of(
            st.sampled_from(FRAGMENTS),
            st.text(alphabet="ab[]=@/\\\"'(), .:é✓", min_size=1, max_size=6),
        ),
        min_size=1,
        max_size=3,
    )
    .map("".join)
    .filter(lambda text: len(escape_controls(text)) <= 100)
)
"""Hostile text short enough that a table row holding it three times fits on the screen."""
PROPERTY = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
SCROLLBAR = [
    {"@mouse.down": action}
    for action in ("grab", "scroll_up", "scroll_down", "scroll_left", "scroll_right")
]
"""The actions Textual itself puts on screen (a scrollbar's thumb and track)."""
IN_INDEX = str.maketrans("\t\r\n", "   ")
"""What the text index does to a command line (recordings search shows the index's line)."""


@pytest.fixture(autouse=True)
def no_drop() -> Iterator[None]:
    yield
    assert list(DROP.iterdir()) == [], "a planted action wrote a file"


@pytest.fixture(autouse=True, scope="module")
def drop_dir() -> Iterator[None]:
    DROP.mkdir()
    yield
    shutil.rmtree(DROP, ignore_errors=True)


def run(scenario: Any, *args: Any) -> None:
    asyncio.run(scenario(*args))


# -- what the screen shows --------------------------------------------------------------------


def segments(app: App[Any]) -> list[Segment]:
    strips = app.screen._compositor.render_strips()
    return [segment for strip in strips for segment in strip]


def screen_lines(app: App[Any]) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


def assert_inert(app: App[Any]) -> None:
    """Nothing on screen carries an action or a link, and no control reaches the terminal."""
    for segment in segments(app):
        meta = segment.style.meta if segment.style is not None else {}
        actions = {k: v for k, v in meta.items() if k.startswith("@")}
        assert not actions or actions in SCROLLBAR, (segment, meta)
        assert not (segment.style and segment.style.link), segment
        assert not has_controls(segment.text), segment


def assert_on_screen(app: App[Any], text: str) -> None:
    shown = escape_controls(text)
    lines = screen_lines(app)
    assert any(shown in line for line in lines), (shown, lines)


def rendered(widget: Static | Toast) -> str:
    return str(widget.render())


async def click_text(pilot: Pilot[Any], text: str) -> None:
    """Click where ``text`` is shown (as a reviewer would click a link planted in it)."""
    for y, line in enumerate(screen_lines(pilot.app)):
        x = line.find(text)
        if x >= 0:
            await pilot.click(offset=(x + 1, y))
            await pilot.pause()
            return


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


# -- the connection picker --------------------------------------------------------------------


@PROPERTY
@given(hostile)
@example(CLICK)
def test_picker_rows_error_line_and_toast(text: str) -> None:
    async def scenario() -> None:
        services = FakeServices([ConnectionView(text, "ssh", f"deploy@{text}", text, False, "r")])
        services.fail_with = UpstreamError(f"cannot connect: {text}")
        channel = FakeChannel(Principal(text, ("engineers", text)))
        app = GatehouseApp(services, channel)  # type: ignore[arg-type]
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await settle(pilot)
            assert_on_screen(app, text)  # the row
            assert app.sub_title == escape_controls(f"{text} · engineers, {text}")
            await pilot.press("enter")
            await settle(pilot)
            status = app.screen.query_one("#status", Static)
            assert escape_controls(f"cannot connect: {text}") in rendered(status)
            toasts = list(app.screen.query(Toast))
            assert toasts
            assert escape_controls(f"cannot connect: {text}") in rendered(toasts[-1])
            assert_inert(app)
            await click_text(pilot, "click-me")
            assert app.is_running

    run(scenario)


# -- the recordings pane ----------------------------------------------------------------------


def hostile_store(directory: Path, text: str) -> RecordingStore:
    store = RecordingStore(directory)
    meta = SessionMeta("s-evil", user=text, connection=text)
    w = store.create(Header(60, 8, 1_700_000_000, "xterm-256color", meta))
    w.output(0.5, "$ ")
    w.output(1.0, f"echo needle {text}")
    w.marker(1.0, f"echo needle {text}")
    w.output(1.5, "\r\nneedle\r\n$ ")
    w.close()
    return store


@PROPERTY
@given(hostile)
@example(CLICK)
def test_recordings_list_search_rows_and_status(text: str) -> None:
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            services = FakeServicesWithReview(hostile_store(Path(tmp), text))
            app = GatehouseApp(services, FakeChannel(Principal("rita", ("reviewers",))))  # type: ignore[arg-type]
            async with app.run_test(size=SIZE) as pilot:
                await pilot.press("r")
                await settle(pilot)
                screen = app.screen
                assert isinstance(screen, RecordingsScreen)
                assert_on_screen(app, text)  # user and connection columns
                assert_inert(app)
                await click_text(pilot, "click-me")
                screen.search("echo needle")
                await settle(pilot)
                table = screen.query_one("#recordings", DataTable)
                assert table.row_count >= 1
                assert_on_screen(app, f"echo needle {text}".translate(IN_INDEX).strip())
                assert_inert(app)
                await click_text(pilot, "click-me")
                screen.search(text)  # the status line quotes the search
                await settle(pilot)
                status = rendered(screen.query_one("#status", Static))
                assert escape_controls(repr(text)) in status
                assert_inert(app)
                await click_text(pilot, "click-me")
                assert app.is_running

    run(scenario)


# -- the replay player ------------------------------------------------------------------------


@PROPERTY
@given(hostile)
@example(CLICK)
def test_replay_command_markers_status_and_title(text: str) -> None:
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            store = hostile_store(Path(tmp), text)
            app = PlayerApp(store.open("s-evil"), title=f"Replay {text}")
            async with app.run_test(size=SIZE) as pilot:
                await settle(pilot)
                screen = app.screen
                assert isinstance(screen, ReplayScreen)
                assert screen.title == escape_controls(f"Replay {text}")
                options = screen.query_one("#replay-commands", OptionList)
                prompt = options.get_option_at_index(0).prompt
                assert str(prompt).endswith(escape_controls(f"echo needle {text}"))
                await pilot.press("right_square_bracket")
                await settle(pilot)
                status = rendered(screen.query_one("#status", Static))
                assert status.endswith(escape_controls(f"echo needle {text}"))
                assert_inert(app)
                await click_text(pilot, "click-me")
                screen.run_search("needle", jump=True)  # the status quotes the matched line
                await settle(pilot)
                status = rendered(screen.query_one("#status", Static))
                assert status.startswith("match 1/"), status
                assert_inert(app)
                await click_text(pilot, "click-me")
                assert app.is_running

    run(scenario)


# -- the audit pane ---------------------------------------------------------------------------


@PROPERTY
@given(hostile)
@example(CLICK)
def test_audit_rows_status_and_detail(text: str) -> None:
    async def scenario() -> None:
        review = FakeReview([record(1, text, "command.run", text, {"command": text})])
        review.malformed.append(text.encode())
        app, _ = make_app(AUDITOR, review)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("a")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, AuditScreen)
            assert_on_screen(app, text)  # the actor column
            assert_inert(app)
            await click_text(pilot, "click-me")
            screen.where = RecordFilter(actor=text)  # the status quotes the filter
            screen.action_reload()
            await settle(pilot)
            status = rendered(screen.query_one("#audit-status", Static))
            assert escape_controls(f"user {text}") in status
            assert_inert(app)
            table = screen.query_one("#audit-table", DataTable)
            table.move_cursor(row=0)
            screen.action_detail()
            await settle(pilot)
            detail = app.screen
            assert isinstance(detail, AuditDetailScreen)
            body = rendered(detail.query_one("#audit-detail-body", Static))
            assert body.startswith("{")
            assert_inert(app)
            await click_text(pilot, "click-me")
            assert app.is_running

    run(scenario)
