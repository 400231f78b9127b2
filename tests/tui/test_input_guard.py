"""EscapeLimiter and InputBudget: hostile input bytes, any chunking, virtual time."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.input_guard import (
    MAX_SEQUENCE,
    RESIZE_COST,
    Bucket,
    EscapeLimiter,
    InputBudget,
    resize_cost,
)

ESC = 0x1B


def _reference(data: bytes, cap: int = MAX_SEQUENCE) -> bytes:
    """The limiter's rule written byte by byte on the whole input (slow and obvious)."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        if data[i] != ESC or i + 1 >= n or data[i + 1] != ord("["):
            out.append(data[i])
            i += 1
            continue
        j = i + 2
        while j < n and 0x20 <= data[j] <= 0x3F:
            j += 1
        if j < n and 0x40 <= data[j] <= 0x7E:
            j += 1
            body_end = j - 1
        else:
            body_end = j
        if body_end - i >= cap:  # with its final byte it would be longer than the cap
            i = j
            continue
        out += data[i:j]
        i = j
    return bytes(out)


def _feed(limiter: EscapeLimiter, chunks: list[bytes]) -> bytes:
    return b"".join(limiter.feed(chunk) for chunk in chunks) + limiter.flush()


# Bytes that make sequences likely: ESC, `[`, parameter bytes, final bytes, controls, UTF-8.
_alphabet = st.sampled_from(
    [b"\x1b", b"[", b"9", b";", b"<", b"?", b"A", b"~", b"M", b"a", b"\r", b"\x00", b"\xe2\x82"]
)
_hostile = st.lists(
    st.one_of(
        _alphabet,
        st.binary(max_size=8),
        st.integers(0, 200).map(lambda k: b"\x1b[" + b"9" * k + b"A"),
    ),
    max_size=40,
).map(b"".join)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=400)
@given(_hostile)
def test_whole_input_follows_the_rule(data: bytes) -> None:
    assert _feed(EscapeLimiter(), [data]) == _reference(data)


@settings(max_examples=400)
@given(_hostile, st.lists(st.integers(0, 10_000), max_size=12))
def test_chunking_changes_nothing_unless_a_read_ends_in_esc(data: bytes, cuts: list[int]) -> None:
    chunks = _chunks(data, cuts)
    if any(chunk.endswith(b"\x1b") for chunk in chunks[:-1]):
        return  # a lone ESC at the end of a read is passed at once (see the next test)
    assert _feed(EscapeLimiter(), chunks) == _reference(data)


@settings(max_examples=400)
@given(_hostile, st.lists(st.integers(0, 10_000), max_size=12))
def test_no_overlong_sequence_ever_passes(data: bytes, cuts: list[int]) -> None:
    limiter = EscapeLimiter()
    for chunk in _chunks(data, cuts):
        out = limiter.feed(chunk)
        # what one read passes never holds a sequence over the cap, and never grows input
        assert not re.search(rb"\x1b\[[\x20-\x3f]{%d,}" % (MAX_SEQUENCE - 1), out)
        assert len(out) <= len(chunk) + MAX_SEQUENCE


def test_a_lone_escape_at_the_end_of_a_read_passes_at_once() -> None:
    limiter = EscapeLimiter()
    assert limiter.feed(b"x\x1b") == b"x\x1b"  # maybe the Escape key: the parser times it out
    assert limiter.feed(b"[A") == b"[A"  # or the rest of a sequence: the parser joins them
    assert limiter.feed(b"\x1b") == b"\x1b"
    assert limiter.feed(b"[" + b"9" * 100 + b"Ab") == b"b"  # overlong after all: dropped
    assert limiter.dropped == 1


@pytest.mark.parametrize(
    ("chunks", "passed"),
    [
        ([b"\x1b[A"], b"\x1b[A"),
        ([b"\x1b[<35;1000;500M"], b"\x1b[<35;1000;500M"),  # SGR mouse at a far corner
        ([b"\x1b[200~pasted\x1b[201~"], b"\x1b[200~pasted\x1b[201~"),
        ([b"\x1b[97;5u"], b"\x1b[97;5u"),  # kitty keyboard protocol
        ([b"\x1bOP", b"\x1bx"], b"\x1bOP\x1bx"),  # SS3 F1, Alt+x
        ([b"\x1b\x1b[A"], b"\x1b\x1b[A"),  # Alt+Up
        ([b"\x1b[1;", b"5A"], b"\x1b[1;5A"),  # split across reads: held, then whole
        ([b"\x1b[" + b"9" * 4000 + b"A" + b"q"], b"q"),
        ([b"\x1b[" + b"9" * 30, b"9" * 40, b"A", b"q"], b"q"),  # overlong across reads
        ([b"\x1b[" + b"9" * 100 + b"\x1b[B"], b"\x1b[B"),  # cut short by the next one
        ([b"\x1b[12\x00x"], b"\x1b[12\x00x"),  # malformed but short: as it came
        ([b"\x1b[" + b"1" * (MAX_SEQUENCE - 3) + b"A"], b"\x1b[" + b"1" * 61 + b"A"),
        ([b"\x1b[" + b"1" * (MAX_SEQUENCE - 2) + b"A"], b""),
    ],
)
def test_examples(chunks: list[bytes], passed: bytes) -> None:
    assert _feed(EscapeLimiter(), chunks) == passed


def test_a_split_sequence_is_held_until_flushed() -> None:
    limiter = EscapeLimiter()
    assert limiter.feed(b"a\x1b[1") == b"a"
    assert limiter.holding
    assert limiter.flush() == b"\x1b[1"
    assert not limiter.holding


def test_the_hostile_review_flood_passes_nothing() -> None:
    limiter = EscapeLimiter()
    flood = (b"\x1b[" + b"9" * 4000 + b"A") * 1000
    out = b"".join(limiter.feed(flood[i : i + 65536]) for i in range(0, len(flood), 65536))
    assert out + limiter.flush() in (b"", b"\x1b")  # an ESC that ended a read may pass
    assert limiter.dropped == 1000
    assert limiter.dropped_bytes == len(flood) - len(out)


def test_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = Bucket(rate=10, burst=20)
    assert bucket.refill(0.0) == 20
    bucket.tokens -= 25
    assert bucket.wait(0.0, 1) == pytest.approx(0.6)
    assert bucket.refill(1.0) == pytest.approx(5)
    assert bucket.refill(100.0) == 20
    assert bucket.refill(50.0) == 20  # time going backwards gives nothing


def test_budget_allows_a_slice_then_makes_the_flood_wait() -> None:
    budget = InputBudget(bytes_per_second=1000, events_per_second=100)
    assert budget.allowance(0.0, 5000, most=512) == 512
    budget.charge(0.0, 512, 512)  # 512 keys: deep in debt for events
    assert budget.allowance(0.0, 5000) == 0
    assert budget.wait(0.0) == pytest.approx(4.13, abs=0.01)
    assert budget.allowance(4.2, 5000, most=512) == 512  # out of debt: a slice again


def test_a_paste_goes_at_the_byte_rate_not_the_event_rate() -> None:
    budget = InputBudget(bytes_per_second=1000, events_per_second=100)
    now, sent = 0.0, 0
    for _ in range(1000):
        allowed = budget.allowance(now, 3000 - sent, most=512)
        sent += allowed
        budget.charge(now, allowed, 0)  # inside a bracketed paste: no events yet
        if sent == 3000:
            break
        now += budget.wait(now, min(512, 3000 - sent))
    assert now == pytest.approx(2.0, abs=0.05)  # 1000 at once, then 1000 a second


def test_a_larger_screen_costs_more_to_resize() -> None:
    assert resize_cost(80, 24) == resize_cost(240, 60) == RESIZE_COST
    assert resize_cost(500, 300) == pytest.approx(RESIZE_COST * 500 * 300 / (240 * 60))
    budget = InputBudget(events_per_second=400)
    assert budget.affords(0.0, resize_cost(500, 300))  # above the burst: once it is full
    budget.charge(0.0, 0, resize_cost(500, 300))
    assert not budget.affords(1.0, RESIZE_COST)
    assert budget.wait(1.0, 0, RESIZE_COST) == pytest.approx(0.854, abs=0.001)


def test_a_session_budget_is_held_within_its_users() -> None:
    user = InputBudget(bytes_per_second=1000, events_per_second=100)
    first = InputBudget(bytes_per_second=800, events_per_second=80, user=user)
    second = InputBudget(bytes_per_second=800, events_per_second=80, user=user)
    assert first.allowance(0.0, 5000, most=5000) == 800
    first.charge(0.0, 800, 80)
    assert second.allowance(0.0, 5000, most=5000) == 200  # what the user has left
    second.charge(0.0, 200, 20)
    assert not second.affords(0.0, 1)
    assert second.wait(0.0) == pytest.approx(0.01)  # the user's events refill first
    assert first.wait(0.0, 1, 1) == pytest.approx(0.0125)  # its own: 1 event at 80 a second
