"""Waiting on a condition with a deadline: the only way tests wait for something to happen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL = 0.05
"""Seconds between two looks at the condition (not a delay anything relies on)."""


def wait_until(check: Callable[[], T], timeout: float, what: str) -> T:
    """Return ``check()``'s first truthy value; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL)
    return value


async def async_wait_until(check: Callable[[], T], timeout: float, what: str) -> T:
    """:func:`wait_until` for a test running on the event loop (the loop keeps running)."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(POLL)
    return value
