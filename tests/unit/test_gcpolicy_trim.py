"""The idle collection after a burst of closes, and handing freed memory back."""

from __future__ import annotations

import asyncio

import pytest

from broker.runtime import gcpolicy


def test_a_burst_of_closes_ends_with_the_idle_collection_and_a_trim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs: list[str] = []
    monkeypatch.setattr(gcpolicy, "collect_now", lambda why: runs.append(why) or 0)
    monkeypatch.setattr(gcpolicy, "release_free_memory", lambda: runs.append("trim") or True)

    async def burst() -> None:
        collector = gcpolicy.SessionCollector()
        for live in range(99, -1, -1):  # 100 sessions close within a few ms
            collector.session_closed(live)
        await asyncio.sleep(0.7)

    asyncio.run(burst())
    assert runs == ["idle", "trim"]


def test_release_free_memory_calls_malloc_trim() -> None:
    assert gcpolicy.release_free_memory() is True  # glibc on every supported host
