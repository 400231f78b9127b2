"""The loop watchdog reports a real stall with its stack, and the broker's own planned work
(the idle garbage collection) only at debug level."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from broker.runtime.watchdog import LoopWatchdog


def blocked_loop(expected: str) -> LoopWatchdog:
    async def main() -> LoopWatchdog:
        watchdog = LoopWatchdog(threshold=0.05, interval=0.01)
        watchdog.start()
        if expected:
            with watchdog.expected(expected):
                time.sleep(0.3)  # the loop is blocked: what the watchdog is here to see
        else:
            time.sleep(0.3)
        await watchdog.stop()
        return watchdog

    return asyncio.run(main())


def test_a_real_stall_is_a_warning_with_where(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="broker.runtime.watchdog")
    watchdog = blocked_loop("")
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "event loop blocked for more than" in warning.getMessage()
    assert "time.sleep(0.3)" in warning.getMessage()
    assert len(watchdog.stalls) == 1


def test_planned_work_is_debug_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="broker.runtime.watchdog")
    watchdog = blocked_loop("full garbage collection (idle)")
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "full garbage collection (idle)" in caplog.records[0].getMessage()
    assert watchdog.stalls == []
