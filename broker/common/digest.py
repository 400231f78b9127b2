"""SHA-256 of bulk output, computed by a worker thread so the event loop only queues the bytes.

A session that passes binary output records its size and SHA-256 (docs/decisions/020). On
the relay's loop that hash was ~0.12 s of CPU per 200 MiB, a fifth of the broker's whole
work per byte. ``hashlib`` releases the GIL while it hashes a piece of 2 KiB or more, so a
worker thread hashes beside the loop, which only appends each piece to a batch. The thread
joins a batch and hashes it in one call: it takes the GIL a few times per 512 KiB, not twice
per 32 KiB packet (per-piece updates cost the loop most of what they saved, in GIL hand-overs).

One worker thread serves the process and runs the batches in the order they were queued, so
each digest sees its bytes in order. A digest lets at most :data:`MAX_QUEUED` batches wait
for the worker (the loop then waits for the oldest): the bytes held, and the time
:meth:`OffLoopSha256.hexdigest` can wait at the end, stay bounded.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

BATCH = 512 << 10
"""Bytes queued before a batch goes to the worker (one hand-over per 512 KiB)."""
MAX_QUEUED = 4
"""Batches of one digest that may wait for the worker (2 MiB held at most)."""

_worker: ThreadPoolExecutor | None = None
_worker_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """The process's hashing thread, started on first use (after any fork of a worker)."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gatehouse-sha256")
        return _worker


def _hash(sha: Any, pieces: list[bytes]) -> None:
    # One update per batch: the thread takes the GIL twice per batch, not twice per piece.
    sha.update(pieces[0] if len(pieces) == 1 else b"".join(pieces))


class OffLoopSha256:
    """A SHA-256 whose :meth:`update` queues the bytes for the worker thread.

    Give it immutable ``bytes`` (other buffers are copied). :meth:`hexdigest` waits for the
    queued batches and hashes the rest itself.
    """

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._batch: list[bytes] = []
        self._batch_bytes = 0
        self._queued: deque[Future[None]] = deque()

    def update(self, data: bytes) -> None:
        if not data:
            return
        self._batch.append(data if type(data) is bytes else bytes(data))
        self._batch_bytes += len(data)
        if self._batch_bytes >= BATCH:
            self._submit()

    def _submit(self) -> None:
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        queued = self._queued
        while queued and queued[0].done():
            queued.popleft().result()
        while len(queued) >= MAX_QUEUED:  # the worker is behind: wait for it (bounded)
            queued.popleft().result()
        queued.append(_executor().submit(_hash, self._sha, batch))

    def hexdigest(self) -> str:
        """The digest of everything given so far, in order."""
        while self._queued:
            self._queued.popleft().result()
        if self._batch:
            _hash(self._sha, self._batch)
        self._batch, self._batch_bytes = [], 0
        return str(self._sha.hexdigest())
