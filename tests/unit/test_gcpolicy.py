"""The broker's GC policy: startup objects frozen, full collections only on the timer."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from broker.runtime.gcpolicy import full_collections, settle_startup


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


async def test_full_collection_runs_on_the_timer(caplog: pytest.LogCaptureFixture) -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    caplog.set_level(logging.INFO, logger="broker.runtime.gcpolicy")
    for _ in range(100):
        Cycle()
    task = asyncio.create_task(full_collections(interval=0.05))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert any("full garbage collection" in r.message for r in caplog.records)


async def test_collects_when_the_last_session_closes(caplog: pytest.LogCaptureFixture) -> None:
    from broker.runtime.gcpolicy import SessionCollector

    caplog.set_level(logging.INFO, logger="broker.runtime.gcpolicy")
    collector = SessionCollector()
    collector.session_closed(live=3)
    await asyncio.sleep(0.7)
    assert not any("idle" in r.message for r in caplog.records)
    collector.session_closed(live=0)
    await asyncio.sleep(0.7)
    assert any("(idle)" in r.message for r in caplog.records)
