"""OffLoopSha256: the digest of binary output, hashed by a worker thread, equals hashlib's."""

from __future__ import annotations

import hashlib
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.common import digest
from broker.common.digest import BATCH, MAX_QUEUED, OffLoopSha256
from broker.masking.binary import BinaryOutput


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=BATCH // 3), max_size=12))
def test_same_digest_as_hashlib_however_chunked(pieces: list[bytes]) -> None:
    ours = OffLoopSha256()
    for piece in pieces:
        ours.update(piece)
    assert ours.hexdigest() == hashlib.sha256(b"".join(pieces)).hexdigest()


def test_order_kept_across_many_batches_and_digests() -> None:
    """Two digests interleaved over many batches each: each sees only its bytes, in order."""
    a, b = OffLoopSha256(), OffLoopSha256()
    want_a, want_b = hashlib.sha256(), hashlib.sha256()
    for i in range(MAX_QUEUED * 5):
        piece = bytes([i % 251]) * (BATCH // 2 + i)
        a.update(piece)
        want_a.update(piece)
        b.update(piece[::-1] + b"b")
        want_b.update(piece[::-1] + b"b")
    assert a.hexdigest() == want_a.hexdigest()
    assert b.hexdigest() == want_b.hexdigest()


def test_hashes_in_the_worker_thread_and_bounds_what_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[str] = set()
    blocked = threading.Event()
    release = threading.Event()
    original = digest._hash

    def spy(sha: object, pieces: list[bytes]) -> None:
        if pieces:  # hexdigest hashes what is left (nothing here) itself
            seen.add(threading.current_thread().name)
        blocked.set()
        release.wait(10)
        original(sha, pieces)

    monkeypatch.setattr(digest, "_hash", spy)
    try:
        ours = OffLoopSha256()
        ours.update(bytes(BATCH))  # one batch, held in the worker until released
        assert blocked.wait(10)
        for _ in range(MAX_QUEUED - 1):
            ours.update(bytes(BATCH))
        assert len(ours._queued) == MAX_QUEUED  # nothing waited so far
        release.set()
        ours.update(bytes(BATCH))  # over the bound: waits for the oldest first
        assert len(ours._queued) <= MAX_QUEUED
    finally:
        release.set()
    assert ours.hexdigest() == hashlib.sha256(bytes(BATCH * (MAX_QUEUED + 1))).hexdigest()
    assert seen
    assert all(name.startswith("gatehouse-sha256") for name in seen)


def test_other_buffers_are_copied() -> None:
    """A bytearray changed after update does not change the digest."""
    buf = bytearray(b"x" * 10)
    ours = OffLoopSha256()
    ours.update(buf)  # type: ignore[arg-type]  (callers give bytes; others are copied)
    buf[:] = b"y" * 10
    assert ours.hexdigest() == hashlib.sha256(b"x" * 10).hexdigest()


def test_binary_output_summary_same_with_either_digest() -> None:
    pieces = [bytes(range(256)) * 300, b"\0" * (BATCH + 5), b"\xff" * 7]
    plain = BinaryOutput("stdout", "pass", 3)
    threaded = BinaryOutput("stdout", "pass", 3, OffLoopSha256)
    for piece in pieces:
        plain.add(piece)
        threaded.add(piece)
    assert threaded.summary() == plain.summary()
    assert plain.summary()["sha256"] == hashlib.sha256(b"".join(pieces)).hexdigest()
