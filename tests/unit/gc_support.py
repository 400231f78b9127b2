"""Helpers for the GC policy tests: cyclic garbage, RSS, waiting for a collection."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Iterator

import pytest

from broker.runtime import gcpolicy

MIB = 1 << 20


def rss() -> int:
    """This process's resident set size, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def no_automatic_gc() -> Iterator[None]:
    """Only the collector under test collects cycles."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def settled(collector: gcpolicy.SessionCollector, count: int = 1) -> None:
    """Wait (bounded) until ``collector`` ran ``count`` collections."""
    async with asyncio.timeout(5):
        while collector.collections < count:
            await asyncio.sleep(0.01)
