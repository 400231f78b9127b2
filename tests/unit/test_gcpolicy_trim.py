"""The idle collection after a burst of closes frees cycles and hands freed memory back."""

from __future__ import annotations

import asyncio
import weakref

import pytest

from broker.runtime import gcpolicy
from tests.unit.gc_support import MIB, Cycle, no_automatic_gc, rss, settled

__all__ = ["no_automatic_gc"]  # the fixture, used by name


@pytest.mark.usefixtures("no_automatic_gc")
def test_a_burst_of_closes_ends_with_one_idle_collection_and_a_trim() -> None:
    garbage = Cycle()
    freed = weakref.ref(garbage)
    del garbage

    async def burst() -> tuple[gcpolicy.SessionCollector, int, int]:
        # Memory a closed session leaves free inside malloc's arenas: 100 MiB in 4 KiB
        # blocks, one in 64 still held so that none of it goes back to the OS by itself.
        blocks = [bytes(4096) for _ in range(25_000)]
        kept = blocks[::64]
        del blocks
        held = rss()
        collector = gcpolicy.SessionCollector(delay=0.01)
        for live in range(99, -1, -1):  # 100 sessions close within a few ms
            collector.session_closed(live)
        assert freed() is not None  # nothing collected until the burst settled
        await settled(collector)
        assert len(kept) == 391
        return collector, held, rss()

    collector, held, after = asyncio.run(burst())
    assert collector.collections == 1  # one collection for the whole burst
    assert not collector.pending
    assert freed() is None  # the idle collection freed the cycle
    assert held - after > 50 * MIB, f"only {(held - after) / MIB:.0f} MiB handed back"


def test_release_free_memory_hands_free_arena_memory_back() -> None:
    blocks = [bytes(4096) for _ in range(25_000)]
    kept = blocks[::64]
    del blocks
    held = rss()
    assert gcpolicy.release_free_memory() is True  # glibc on every supported host
    assert held - rss() > 50 * MIB
    assert len(kept) == 391
