"""The broker's GC policy: startup objects frozen, full collections only on the timer."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref

import pytest

from broker.runtime.gcpolicy import CLOSED_BATCH, SessionCollector, full_collections, settle_startup
from tests.unit.gc_support import Cycle, no_automatic_gc, settled

__all__ = ["no_automatic_gc"]  # the fixture, used by name


def test_settle_startup_freezes_and_defers_full_collections() -> None:
    before = gc.get_threshold()
    try:
        settle_startup()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[2] >= 1_000_000
        assert gc.get_threshold()[:2] == before[:2]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


@pytest.mark.usefixtures("no_automatic_gc")
async def test_full_collection_runs_on_the_timer(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="broker.runtime.gcpolicy")
    garbage = Cycle()
    freed = weakref.ref(garbage)
    del garbage
    waits: list[float] = []
    seen_before_first: list[bool] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:
            seen_before_first.append(freed() is not None)
        if len(waits) == 3:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await full_collections(interval=300, sleep=sleep)
    assert waits == [300, 300, 300]
    assert seen_before_first == [True]  # nothing collected before the first interval
    assert freed() is None
    timer = [r.message for r in caplog.records if "full garbage collection (timer)" in r.message]
    assert len(timer) == 2


@pytest.mark.usefixtures("no_automatic_gc")
async def test_collects_when_the_last_session_closes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="broker.runtime.gcpolicy")
    garbage = Cycle()
    freed = weakref.ref(garbage)
    del garbage
    collector = SessionCollector(delay=0.01)
    collector.session_closed(live=3)
    assert not collector.pending  # others still open: no collection to stall them
    assert freed() is not None
    collector.session_closed(live=0)
    assert collector.pending
    await settled(collector)
    assert freed() is None
    assert any("(idle)" in r.message for r in caplog.records)


@pytest.mark.usefixtures("no_automatic_gc")
async def test_collects_every_batch_of_closes_with_sessions_open(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="broker.runtime.gcpolicy")
    collector = SessionCollector(delay=0.01)
    for _ in range(CLOSED_BATCH - 1):
        collector.session_closed(live=10)
    assert not collector.pending
    collector.session_closed(live=10)
    assert collector.pending
    await settled(collector)
    assert collector.closed_since == 0
    assert any(f"({CLOSED_BATCH} sessions closed)" in r.message for r in caplog.records)
