"""The audit pane under Pilot: access, filters, verification marks, detail (live records:
test_audit_pane_live.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.widgets import Input, Static

from broker.auditchain.events import Action
from broker.auditlog.keys import generate_signing_key, key_paths
from broker.auditlog.query import RecordFilter, RecordView, read_recent
from broker.auditlog.writer import append_sync
from broker.policy.roles import Roles
from broker.review import services as review_services
from broker.review.services import ReviewServices
from broker.session.terminal import Principal
from tests.tui.audit_fakes import (
    AUDITOR,
    ENGINEER,
    SIZE,
    AuditServices,
    FakeReview,
    make_app,
    notes_of,
    open_pane,
    record,
    rows,
    seqs,
    set_filter,
    settle,
    status,
)
from tests.tui.fakes import FakeChannel
from tui.app import GatehouseApp
from tui.screens.audit import AuditDetailScreen, AuditScreen, summary
from tui.screens.connections import ConnectionsScreen
from tui.widgets.audit_table import AuditTable, live_view, short_details


async def test_a_opens_the_pane_for_an_auditor() -> None:
    app, review = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        assert seqs(app) == ["1", "2", "3", "4", "5", "6"]
        second = rows(app)[1]
        assert second[1:6] == ("2026-11-22 10:00:02", "alice", "command.run", "shell", second[5])
        assert "command=echo hi" in second[5]
        assert all(row[6] == "✓" for row in rows(app))
        assert "6 records · ✓ chain verified · all records" in status(app)
        assert review.queries == [(RecordFilter(), 500)]
        assert len(review.listeners) == 1
        assert app.screen.query_one(AuditTable).cursor_row == 5  # follows the tail


async def test_footer_shows_the_key_to_auditors_only() -> None:
    for principal, shown in ((AUDITOR, True), (ENGINEER, False)):
        app, _ = make_app(principal)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("tab")  # to the connections table: the filter hides letter keys
            await pilot.pause()
            assert app.focused is app.screen.query_one("#connections")
            active = app.screen.active_bindings.get("a")
            assert (active is not None and active.binding.show) is shown, principal.name
            if shown:
                await pilot.press("a")
                await pilot.pause()
                assert isinstance(app.screen, AuditScreen)


async def test_non_auditor_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    app, review = make_app(ENGINEER)
    notes = notes_of(app, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, ConnectionsScreen)
        assert notes == ["The audit log is open to members of the auditors role only (auditors)."]
        assert review.queries == []
        assert review.listeners == []


def real_review(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[int]]:
    """The real review services over a real, signed audit log of three records.

    Returns them and a list that grows by one each time they read the log.
    """
    state = tmp_path / "state"
    key = generate_signing_key(key_paths(state)[0])
    for i in range(3):
        append_sync(state / "audit", key, "alice", Action.COMMAND_RUN, "shell", {"n": i})

    async def emit(*_: Any) -> None:
        return None

    reads: list[int] = []

    def counted(*args: Any) -> Any:
        reads.append(1)
        return read_recent(*args)

    monkeypatch.setattr(review_services, "read_recent", counted)
    review = ReviewServices(state / "recordings", state / "audit", state, emit, roles=Roles())
    return review, reads


async def pushed_pane(principal: Principal, review: Any) -> tuple[list[tuple[str, ...]], str, bool]:
    """Push the audit pane directly (not through `a`) and return its rows and status."""
    services = AuditServices()
    services.review = review
    app = GatehouseApp(services, FakeChannel(principal=principal))  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(AuditScreen())
        await app.workers.wait_for_complete()
        await pilot.pause()
        failed = app.screen.query_one("#audit-status").has_class("error")
        return rows(app), status(app), failed


async def test_pane_pushed_for_non_auditor_reads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    review, reads = real_review(tmp_path, monkeypatch)
    shown, text, failed = await pushed_pane(ENGINEER, review)
    assert shown == []
    assert "auditors role" in text
    assert failed
    assert reads == []  # the log was never opened for a non-auditor
    # The same services and log, for an auditor: the records are read and shown.
    shown, text, failed = await pushed_pane(AUDITOR, review)
    assert [row[3] for row in shown].count("command.run") == 3
    assert not failed
    assert reads == [1]


async def test_a_is_a_letter_once_the_picker_filter_has_text() -> None:
    app, review = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s", "h", "a")
        await pilot.pause()
        assert isinstance(app.screen, ConnectionsScreen)
        assert app.screen.query_one("#filter", Input).value == "sha"
        assert review.queries == []


async def test_a_is_a_letter_in_the_panes_own_filters() -> None:
    app, review = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        await pilot.press("slash", "a", "l", "a")
        await pilot.pause()
        assert app.screen.query_one("#audit-user", Input).value == "ala"
        assert isinstance(app.screen, AuditScreen)
        assert len(app.screen_stack) == 3  # default, picker, pane: not pushed twice
        assert len(review.queries) == 1


async def test_keys_typed_ahead_in_one_read_land_in_the_filter() -> None:
    """ "/alice⏎" arriving at once (one SSH read): the filter gets alice and is applied."""
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        typed = [("slash", "/"), *((c, c) for c in "alice"), ("enter", "\r")]
        for key, character in typed:  # queued together, as the driver posts one read
            app.post_message(events.Key(key, character))
        await settle(pilot)
        assert app.screen.query_one("#audit-user", Input).value == "alice"
        assert isinstance(app.screen, AuditScreen)
        assert app.screen.where.actor == "alice"
        assert isinstance(app.focused, AuditTable)


async def test_slash_is_text_inside_a_filter_field() -> None:
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        await pilot.press("slash", "a", "slash", "b")
        await pilot.pause()
        assert app.screen.query_one("#audit-user", Input).value == "a/b"


FILTER_CASES: list[tuple[dict[str, str], list[str]]] = [
    ({"user": "bob"}, ["3", "4", "5"]),
    ({"action": "login."}, ["1", "3"]),
    ({"action": "command.run"}, ["2", "4"]),
    ({"action": "command."}, ["2", "4"]),
    ({"action": "command"}, ["2", "4"]),  # the start of action names, as a person types it
    ({"action": "login"}, ["1", "3"]),
    ({"action": "pol"}, ["5"]),
    ({"action": "run"}, []),  # a prefix, not a substring
    ({"target": "shell"}, ["2", "6"]),
    ({"user": "bob", "target": "web-1"}, ["4"]),
    ({"since": "2026-11-22T10:00:04Z"}, ["4", "5", "6"]),
    ({"until": "2026-11-22T10:00:02Z"}, ["1", "2"]),
    ({"until": "2026-11-22"}, ["1", "2", "3", "4", "5", "6"]),
    ({"until": "2026-11-21"}, []),
    ({"since": "2026-11-23"}, []),
    ({"user": "nobody"}, []),
]
FIELDS = ("user", "action", "target", "since", "until")


async def test_filters() -> None:
    app, review = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        for number, (fields, expected) in enumerate(FILTER_CASES, start=2):
            await set_filter(pilot, **{name: fields.get(name, "") for name in FIELDS})
            assert seqs(app) == expected, fields
            assert len(review.queries) == number
            in_force = status(app).split(" · ")[-3]
            assert all(f"{name} " in in_force for name in fields), (fields, in_force)
            assert app.focused is app.screen.query_one(AuditTable)


BAD_TIMES: list[tuple[dict[str, str], str]] = [
    ({"since": "yesterday"}, "since: 'yesterday': expected"),
    ({"until": "2026-13-45"}, "until: '2026-13-45': expected"),
    ({"since": "24x"}, "since: '24x'"),
    ({"since": "2026-11-23", "until": "2026-11-22"}, "since: is after until"),
]


async def test_bad_time_is_refused_and_keeps_the_rows() -> None:
    app, review = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        for fields, message in BAD_TIMES:
            await set_filter(pilot, **{name: fields.get(name, "") for name in FIELDS})
            assert f"Filter not applied: {message}" in status(app), fields
            assert app.screen.query_one("#audit-status").has_class("error")
            assert len(seqs(app)) == 6
            assert len(review.queries) == 1


async def test_enter_shows_the_record_in_full_and_esc_returns() -> None:
    app, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        await pilot.press("up", "up", "up", "enter")  # seq 3
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AuditDetailScreen)
        title = str(screen.query_one("#audit-detail-title", Static).render())
        body = str(screen.query_one("#audit-detail-body", Static).render())
        verdict = str(screen.query_one("#audit-detail-verdict", Static).render())
        assert title == "Audit record 3 · login.failure"
        for text in ('"actor": "bob"', '"reason": "unknown key"', '"seq": 3', '"sig": "c2ln"'):
            assert text in body
        assert verdict.startswith("✓ verified")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, AuditScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConnectionsScreen)


async def test_bad_record_is_marked_with_its_reason() -> None:
    review = FakeReview()
    review.problems[4] = "bad signature (key 0000000000000000)"
    app, _ = make_app(review=review)
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        marks = [row[6] for row in rows(app)]
        assert marks == ["✓", "✓", "✓", "✗", "✓", "✓"]
        assert "✗ 1 failed; first: seq 4: bad signature" in status(app)
        assert "chain verified" not in status(app)
        assert app.screen.query_one("#audit-status").has_class("error")
        await pilot.press("up", "up", "enter")
        await pilot.pause()
        verdict = app.screen.query_one("#audit-detail-verdict", Static)
        assert str(verdict.render()) == "✗ bad signature (key 0000000000000000)"
        assert verdict.has_class("bad")


async def test_malformed_line_is_shown_raw() -> None:
    review = FakeReview()
    review.malformed.append(b'{"seq": 7, "trunc')
    app, _ = make_app(review=review)
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        last = rows(app)[-1]
        assert (last[0], last[3], last[6]) == ("?", "(malformed line)", "✗")
        assert "first: a line in 0001.jsonl: malformed JSON" in status(app)
        await pilot.press("enter")
        await pilot.pause()
        assert str(app.screen.query_one("#audit-detail-title", Static).render()) == (
            "Malformed audit line"
        )
        assert '{"seq": 7, "trunc' in str(app.screen.query_one("#audit-detail-body").render())


async def test_record_text_is_never_read_as_markup() -> None:
    review = FakeReview([record(1, "[b]eve", "command.run", "[red]x", {"command": "echo [/oops]"})])
    review.problems[1] = "bad signature [/nope]"
    app, _ = make_app(review=review)
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        row = rows(app)[0]
        assert row[2:6] == ("[b]eve", "command.run", "[red]x", "command=echo [/oops]")
        assert "seq 1: bad signature [/nope]" in status(app)
        await pilot.press("enter")
        await pilot.pause()
        verdict = str(app.screen.query_one("#audit-detail-verdict", Static).render())
        assert verdict == "✗ bad signature [/nope]"


# -- the pure helpers behind the pane ------------------------------------------------------


def test_summary_counts_and_first_problem() -> None:
    good = RecordView(record(1), b"", "s", True, "verified")
    bad = RecordView(record(2), b"", "s", False, "broken chain: prev is not the hash")
    worse = RecordView(None, b"x", "s2", False, "malformed JSON")
    assert summary([]) == ("0 records", False)
    assert summary([good]) == ("1 record · ✓ chain verified", False)
    assert summary([good, live_view(record(3))]) == (
        "2 records · 1 awaiting verification · ✓ chain verified",
        False,
    )
    text, problem = summary([good, bad, worse])
    assert problem
    assert text == "3 records · ✗ 2 failed; first: seq 2: broken chain: prev is not the hash"


def test_short_details_is_one_bounded_line() -> None:
    assert short_details({"a": "x", "n": 3, "l": [1]}) == "a=x n=3 l=[1]"
    assert short_details({"cmd": "a\nb"}) == "cmd=a⏎b"
    cut = short_details({"k": "v" * 100}, width=20)
    assert (len(cut), cut[-1]) == (20, "…")


async def test_a_typed_in_a_burst_after_other_letters_stays_a_letter() -> None:
    app, review = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key in "shal":  # arrive together, as from a paste or a fast typist over ssh
            app.post_message(events.Key(key, key))
        await settle(pilot)
        assert isinstance(app.screen, ConnectionsScreen)
        assert app.screen.query_one("#filter", Input).value == "shal"
        assert review.queries == []
        await pilot.press("escape")
        for key in "as":
            app.post_message(events.Key(key, key))
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)  # `a` first, on the empty filter, opens it
        assert app.screen.query_one("#audit-user", Input).value == ""
