"""The audit pane's logic without a UI: typed filters, and live records read back and verified."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.auditchain.record import AuditRecord
from broker.auditlog.keys import generate_signing_key, key_paths
from broker.auditlog.query import RecordFilter, RecordView
from broker.auditlog.writer import append_sync
from broker.common.errors import PolicyDenied
from broker.review.audit import (
    GIVE_UP_AFTER,
    READ_BACK_MARGIN,
    FilterText,
    LiveVerifier,
    ReadBack,
    parse_filter,
)
from broker.review.services import ReviewServices
from broker.session.terminal import Principal

AUDITOR = Principal("carol", ("auditors",))
ENGINEER = Principal("alice", ("engineers",))

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "since", "until"),
    [
        (FilterText(), None, None),
        (FilterText(since="24h"), "2026-11-21T12:00:00+00:00", None),
        (FilterText(since=" 90m "), "2026-11-22T10:30:00+00:00", None),
        (FilterText(since="2026-11-22T10:00:00Z"), "2026-11-22T10:00:00+00:00", None),
        (FilterText(since="2026-11-22T10:00:00+02:00"), "2026-11-22T10:00:00+02:00", None),
        (FilterText(since="2026-11-22 10:00"), "2026-11-22T10:00:00+00:00", None),
        (FilterText(until="2026-11-22"), None, "2026-11-22T23:59:59.999999+00:00"),
        (FilterText(until="2026-11-22T08:00:00Z"), None, "2026-11-22T08:00:00+00:00"),
        (FilterText(since="1d", until="now"), "2026-11-21T12:00:00+00:00", NOW.isoformat()),
    ],
)
def test_parse_filter_times(typed: FilterText, since: str | None, until: str | None) -> None:
    where = parse_filter(typed, now=NOW)
    assert (where.since.isoformat() if where.since else None) == since
    assert (where.until.isoformat() if where.until else None) == until


def test_parse_filter_strips_the_text_fields() -> None:
    where = parse_filter(FilterText(" bob ", " login. ", " web-1 "), now=NOW)
    assert (where.actor, where.action, where.target) == ("bob", "login.", "web-1")


@given(since=st.text(max_size=30), until=st.text(max_size=30))
@settings(max_examples=300, deadline=None)
def test_parse_filter_only_raises_value_error_naming_the_field(since: str, until: str) -> None:
    try:
        where = parse_filter(FilterText(since=since, until=until), now=NOW)
    except ValueError as exc:
        assert str(exc).startswith(("since:", "until:"))  # noqa: PT017
    else:
        if where.since and where.until:
            assert where.since <= where.until


# -- live verification ------------------------------------------------------------------------


def record(seq: int, actor: str = "dave") -> AuditRecord:
    return AuditRecord(
        seq=seq,
        time=f"2026-11-22T10:00:{seq % 60:02d}.000000Z",
        actor=actor,
        action="command.run",
        target="shell",
        details={},
        prev="0" * 64,
        key_id="0" * 16,
        sig="c2ln",
    )


class Log:
    """Records in memory, read back as the review services would; each read is noted."""

    def __init__(self, seqs: list[int], bad: tuple[int, ...] = ()) -> None:
        self.records = [record(s) for s in seqs]
        self.bad = bad
        self.reads: list[int] = []

    async def read(self, limit: int) -> list[RecordView]:
        self.reads.append(limit)
        views = [
            RecordView(r, r.line(), "s", r.seq not in self.bad, "bad" if r.seq in self.bad else "")
            for r in self.records
        ]
        return views[-limit:]


class Ticks:
    """A poll that lets one read-back through per :meth:`tick`."""

    def __init__(self) -> None:
        self.due: asyncio.Queue[None] = asyncio.Queue()

    async def poll(self) -> None:
        await self.due.get()

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.due.put_nowait(None)


async def no_wait() -> None:
    return None


async def collect(verifier: LiveVerifier, shown: list[int]) -> list[ReadBack]:
    return [read async for read in verifier.rounds(lambda: shown)]


async def test_nothing_awaited_reads_nothing() -> None:
    log = Log([1, 2])
    assert await collect(LiveVerifier(log.read, no_wait), [1, 2]) == []
    assert log.reads == []


async def test_awaited_records_are_read_back_once_with_a_bounded_read() -> None:
    log = Log(list(range(1, 11)), bad=(9,))
    verifier = LiveVerifier(log.read, no_wait)
    verifier.expect([9, 10])
    reads = await collect(verifier, list(range(1, 11)))
    assert len(reads) == 1
    assert [(v.record.seq, v.ok) for v in reads[0].found if v.record] == [(9, False), (10, True)]
    assert reads[0].lost == frozenset()
    assert log.reads == [2 + READ_BACK_MARGIN]  # the rows from the oldest awaited on, no scan
    assert verifier.pending == set()


async def test_records_not_in_the_log_are_given_up_after_the_last_miss() -> None:
    log = Log([1, 2])
    ticks = Ticks()
    verifier = LiveVerifier(log.read, ticks.poll)
    verifier.expect([3])
    reads: list[ReadBack] = []

    async def run() -> None:
        async for read in verifier.rounds(lambda: [1, 2, 3]):
            reads.append(read)

    task = asyncio.create_task(run())
    for n in range(1, GIVE_UP_AFTER):
        ticks.tick()
        for _ in range(100):  # a tick lets exactly one read-back through
            if len(reads) == n:
                break
            await asyncio.sleep(0)
        assert len(reads) == n
        assert reads[-1] == ReadBack((), frozenset())
        assert verifier.pending == {3}
    ticks.tick()
    await task
    assert reads[-1] == ReadBack((), frozenset({3}))
    assert len(log.reads) == GIVE_UP_AFTER
    assert verifier.pending == set()


async def test_a_find_resets_the_misses() -> None:
    log = Log([1])
    verifier = LiveVerifier(log.read, no_wait, give_up_after=2)
    verifier.expect([2])
    rounds = verifier.rounds(lambda: [1, 2, 3])
    assert await anext(rounds) == ReadBack((), frozenset())
    log.records.append(record(2))
    verifier.expect([3])  # arrives while 2 is awaited
    found = await anext(rounds)
    assert [v.record.seq for v in found.found if v.record] == [2]
    assert await anext(rounds) == ReadBack((), frozenset())  # one miss for 3, not two
    assert await anext(rounds) == ReadBack((), frozenset({3}))
    with pytest.raises(StopAsyncIteration):
        await anext(rounds)


async def test_records_no_longer_shown_are_not_awaited() -> None:
    log = Log([1])
    verifier = LiveVerifier(log.read, no_wait)
    verifier.expect([5, 6])
    assert await collect(verifier, [1]) == []  # both dropped from the pane
    assert log.reads == []


async def test_clear_ends_the_rounds() -> None:
    log = Log([1])
    verifier = LiveVerifier(log.read, no_wait)
    verifier.expect([2])
    rounds = verifier.rounds(lambda: [1, 2])
    await anext(rounds)
    verifier.clear()
    with pytest.raises(StopAsyncIteration):
        await anext(rounds)


async def test_review_services_verify_live_records_of_a_real_log(tmp_path: Path) -> None:
    key = generate_signing_key(key_paths(tmp_path)[0])
    written = [
        append_sync(tmp_path / "audit", key, "alice", "command.run", "web-1", {"n": n})
        for n in range(5)
    ]
    polls: list[int] = []

    async def poll() -> None:
        polls.append(1)

    review = ReviewServices(tmp_path / "rec", tmp_path / "audit", tmp_path, emit=None, poll=poll)  # type: ignore[arg-type]
    verifier = review.live_verifier(AUDITOR, RecordFilter(actor="alice"))
    verifier.expect([written[-1].seq])
    reads = await collect(verifier, [r.seq for r in written])
    assert [(v.record.seq, v.ok) for v in reads[0].found if v.record] == [(written[-1].seq, True)]
    assert polls == [1]


def test_review_services_refuse_live_verification_to_non_auditors(tmp_path: Path) -> None:
    review = ReviewServices(tmp_path / "rec", tmp_path / "audit", tmp_path, emit=None)  # type: ignore[arg-type]
    with pytest.raises(PolicyDenied):
        review.live_verifier(ENGINEER, RecordFilter())
