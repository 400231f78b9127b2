"""Reading a `COPY … TO STDOUT` one block ahead of the consumer, with bounded memory.

asyncpg hands COPY data to a sink and reads no more from the server until the sink returns. If
the sink masked and wrote each block itself, the server would wait for the broker and the
broker for the server in turn. Here the sink only gathers the data into blocks and queues
them (one block waits at most); a consumer task parses each block and runs the page's work
(masking, output) in one worker call, while asyncpg reads the next, then hands the result on.
At most three blocks are held: one being gathered, one queued, one being handed on. The
page's cells live and die in the worker call: the event loop never frees them one by one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from broker.upstream.pgcopy import Cell, CopyRows

T = TypeVar("T")
Columns = Sequence[Sequence[Cell]]
"""A page of rows a column at a time (``columns[i][row]``)."""


@dataclass(frozen=True)
class PageHandler(Generic[T]):
    """What becomes of each page of a streamed result."""

    work: Callable[[Columns], T]
    """Runs in a worker thread on each page (never empty), right after it was parsed."""
    emit: Callable[[T, int], Awaitable[None]]
    """Runs on the event loop with ``work``'s result and the page's row count, page by page."""


Sink = Callable[[bytes], Coroutine[Any, Any, None]]
Copy = Callable[[Sink], Awaitable[object]]
"""Runs the COPY, calling the sink with each piece of data (asyncpg's ``copy_from_query``)."""


async def read_ahead(copy: Copy, columns: int, handler: PageHandler[T], block: int) -> int:
    """Run ``copy``, handing each ``block`` bytes (or so) of rows to ``handler`` a column at a
    time; returns the number of rows.

    An error of ``handler`` (the client left) ends the COPY from the sink, as if the sink had
    raised it.

    Raises:
        CopyFormatError: the data did not parse.
    """
    parser = CopyRows(columns)
    blocks: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1)
    count = 0

    def step(data: bytes) -> tuple[T, int] | None:
        page = parser.feed(data)
        return (handler.work(page), len(page[0])) if page[0] else None

    async def consume() -> None:
        nonlocal count
        while (data := await blocks.get()) is not None:
            done = await asyncio.to_thread(step, data)
            if done is not None:
                count += done[1]
                await handler.emit(*done)

    consumer = asyncio.ensure_future(consume())

    async def put(data: bytes | None) -> None:
        putting = asyncio.ensure_future(blocks.put(data))
        try:
            await asyncio.wait({putting, consumer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not putting.done():
                putting.cancel()
        if consumer.done():
            consumer.result()  # its error; it ends only after None otherwise
            if data is not None:
                raise RuntimeError("the COPY consumer ended early")

    held: list[bytes] = []
    size = 0

    async def sink(data: bytes) -> None:
        nonlocal held, size
        held.append(data)
        size += len(data)
        if size >= block:
            joined = b"".join(held)
            held, size = [], 0
            await put(joined)

    try:
        await copy(sink)
        await put(b"".join(held))
        await put(None)
        await consumer
    finally:
        if not consumer.done():
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
    parser.finish()
    return count
