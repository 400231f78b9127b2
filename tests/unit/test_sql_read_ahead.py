"""Reading a COPY one block ahead: every row once and in order, bounded memory, errors end it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from broker.upstream.pgcopy import CopyFormatError
from broker.upstream.pgstream import Columns, Copy, PageHandler, Sink, read_ahead

ROWS = [f"{i}\tuser{i}@example.com\n".encode() for i in range(1000)]


def fake_copy(pieces: Sequence[bytes], sent: list[int]) -> Copy:
    async def copy(sink: Sink) -> None:
        for piece in pieces:
            await sink(piece)
            sent.append(len(piece))

    return copy


def _same(columns: Columns) -> Columns:
    return columns


def test_every_row_arrives_once_in_order() -> None:
    got: list[tuple[str | None, ...]] = []

    def work(columns: Columns) -> list[tuple[str | None, ...]]:
        return list(zip(*columns, strict=True))

    async def emit(rows: list[tuple[str | None, ...]], count: int) -> None:
        assert len(rows) == count
        got.extend(rows)

    count = asyncio.run(read_ahead(fake_copy(ROWS, []), 2, PageHandler(work, emit), block=300))
    assert count == 1000
    assert got == [(str(i), f"user{i}@example.com") for i in range(1000)]


def test_the_pages_work_is_done_off_the_event_loop() -> None:
    """Parsing, the page's work and freeing its cells happen in a worker thread."""
    loop_thread = threading.get_ident()
    threads: set[int] = set()

    def work(columns: Columns) -> int:
        threads.add(threading.get_ident())
        return len(columns[0])

    async def emit(rows: int, count: int) -> None:
        assert rows == count

    asyncio.run(read_ahead(fake_copy(ROWS, []), 2, PageHandler(work, emit), block=300))
    assert threads
    assert loop_thread not in threads


def test_a_slow_consumer_holds_the_copy_back() -> None:
    """The sink waits once a block is queued and one is being handed on: the server is not
    read further ahead than that, whatever the result's size."""
    sent: list[int] = []
    ahead: list[int] = []
    handed = 0

    def work(columns: Columns) -> int:
        return sum(len(c or "") + 1 for col in columns for c in col)

    async def emit(size: int, _count: int) -> None:
        nonlocal handed
        handed += size
        await asyncio.sleep(0)
        ahead.append(sum(sent) - handed)

    asyncio.run(read_ahead(fake_copy(ROWS, sent), 2, PageHandler(work, emit), block=1000))
    assert len(ahead) > 10
    assert max(ahead) <= 3 * 1000 + max(len(r) for r in ROWS)


def test_an_error_of_the_consumer_ends_the_copy() -> None:
    sent: list[int] = []

    class Gone(Exception):
        pass

    async def emit(_page: Columns, _count: int) -> None:
        raise Gone

    with pytest.raises(Gone):
        asyncio.run(read_ahead(fake_copy(ROWS, sent), 2, PageHandler(_same, emit), block=100))
    assert sum(sent) < 1000  # not read to the end


def test_a_bad_row_is_an_error() -> None:
    async def emit(_page: Columns, _count: int) -> None:
        return None

    handler = PageHandler(_same, emit)
    with pytest.raises(CopyFormatError):
        asyncio.run(read_ahead(fake_copy([b"a\tb\n", b"c\n"], []), 2, handler, block=1))
    with pytest.raises(CopyFormatError):
        asyncio.run(read_ahead(fake_copy([b"a\tb\n", b"c\td"], []), 2, handler, block=1))


def test_a_cancelled_read_leaves_no_task_behind() -> None:
    async def main() -> None:
        started = asyncio.Event()

        async def emit(_page: Columns, _count: int) -> None:
            started.set()
            await asyncio.sleep(3600)

        handler = PageHandler(_same, emit)
        task = asyncio.ensure_future(read_ahead(fake_copy(ROWS, []), 2, handler, block=100))
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == []

    asyncio.run(main())
