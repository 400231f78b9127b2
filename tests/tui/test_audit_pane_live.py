"""The audit pane under Pilot: live records as they are written, read back and verified."""

from __future__ import annotations

import pytest

from broker.auditlog.query import RecordFilter
from broker.review.audit import READ_BACK_MARGIN
from tests.tui.audit_fakes import (
    SIZE,
    FakeReview,
    make_app,
    open_pane,
    record,
    rows,
    seqs,
    set_filter,
    settle,
    status,
)
from tui.screens.audit import AuditScreen
from tui.screens.connections import ConnectionsScreen
from tui.widgets import audit_table
from tui.widgets.audit_table import AuditTable


async def test_live_record_appears_then_is_verified() -> None:
    app, review = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        review.write(record(7, "dave", "command.run", "shell", {"command": "id"}))
        review.write(record(8, "dave", "session.end", "shell", {"exit_status": 0}))
        await pilot.pause()
        assert seqs(app) == ["1", "2", "3", "4", "5", "6", "7", "8"]
        assert rows(app)[7][2:4] == ("dave", "session.end")
        assert app.screen.query_one(AuditTable).cursor_row == 7
        await settle(pilot)
        assert [row[6] for row in rows(app)][-2:] == ["✓", "✓"]
        assert "8 records · ✓ chain verified" in status(app)
        where, limit = review.queries[-1]
        assert (where, limit) == (RecordFilter(), 2 + READ_BACK_MARGIN)  # no scan of the log


async def test_live_record_outside_the_filter_is_not_shown() -> None:
    app, review = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        await set_filter(pilot, user="bob")
        asked = len(review.queries)
        review.write(record(7, "dave"))
        review.write(record(8, "bob", "login.success", "", {}))
        await settle(pilot)
        assert seqs(app) == ["3", "4", "5", "8"]
        assert len(review.queries) == asked + 1  # the read-back of seq 8 alone


async def test_live_record_missing_from_the_log_is_marked_bad() -> None:
    review = FakeReview()
    review.keep_written = False
    app, _ = make_app(review=review)
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        review.due.clear()  # hold the read-backs
        review.write(record(7))
        await pilot.pause()
        assert rows(app)[-1][6] == "…"
        assert "1 awaiting verification" in status(app)
        assert review.polls == 0
        review.due.set()
        await settle(pilot)
        assert review.polls == 3  # given up after three read-backs without it
        assert rows(app)[-1][6] == "✗"
        assert "first: seq 7: written, but not found in the log" in status(app)


async def test_live_records_while_loading_are_not_lost_or_doubled() -> None:
    app, review = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        screen.load()
        review.write(record(7))  # read back by the load and reported live
        await settle(pilot)
        assert seqs(app) == ["1", "2", "3", "4", "5", "6", "7"]


async def test_leaving_the_pane_unsubscribes() -> None:
    app, review = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConnectionsScreen)
        assert review.listeners == []
        assert review.unsubscribed == 1
        review.write(record(7))  # nobody listens: nothing breaks
        await pilot.press("a")
        await settle(pilot)
        assert seqs(app)[-1] == "7"
        assert len(review.listeners) == 1


async def test_oldest_rows_are_dropped_past_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_table, "MAX_ROWS", 5)
    app, review = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        assert seqs(app) == ["2", "3", "4", "5", "6"]
        review.write(record(7))
        await settle(pilot)
        assert seqs(app) == ["3", "4", "5", "6", "7"]
        assert rows(app)[-1][6] == "✓"


async def test_a_burst_arrives_in_one_batch_and_verifies_in_one_read() -> None:
    app, review = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        posted: list[object] = []
        screen = app.screen
        original = screen.post_message
        screen.post_message = lambda m: posted.append(m) or original(m)  # type: ignore[method-assign]
        for seq in range(7, 507):
            review.write(record(seq, "dave"))
        await settle(pilot)
        assert sum(isinstance(m, AuditScreen.RecordsArrived) for m in posted) == 1
        assert seqs(app)[-1] == "506"
        assert len(seqs(app)) == 506
        assert all(row[6] == "✓" for row in rows(app))
        assert len(review.queries) == 2
        assert "506 records · ✓ chain verified" in status(app)
