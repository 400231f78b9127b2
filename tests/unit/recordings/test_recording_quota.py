"""Recording quotas: per session, in all, and disk kept free for the audit log."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.config.limits import RecordingQuota
from broker.recording.host import (
    CLOSE,
    DONE,
    FAIL,
    HEAD,
    OPEN,
    OUT,
    RecorderHost,
    header_payload,
)
from broker.recording.quota import FREE_CHECK_BYTES, QuotaExceeded, QuotaLedger, format_size
from recordings.asciicast import Header, SessionMeta, read_recording
from recordings.writer import start_recording

MiB = 1 << 20


def replies_of(data: bytes) -> list[tuple[int, int, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        op, sid, _, length = HEAD.unpack_from(data, pos)
        pos += HEAD.size
        out.append((op, sid, data[pos : pos + length]))
        pos += length
    return out


@pytest.mark.parametrize(
    ("size", "text"),
    [(512, "512 bytes"), (64 << 10, "64 KiB"), (MiB, "1 MiB"), (3 * MiB // 2, "1.5 MiB")],
)
def test_sizes_read_as_people_write_them(size: int, text: str) -> None:
    assert format_size(size) == text


def test_a_session_past_its_quota_is_named() -> None:
    ledger = QuotaLedger(RecordingQuota(max_session_bytes=MiB, reserve_bytes=0))
    ledger.opened(1, 100)
    ledger.opened(2, 100)
    ledger.charge(1, MiB)  # at the quota: still fine
    with pytest.raises(QuotaExceeded, match=r"recording.max_session_bytes: 1 MiB"):
        ledger.charge(1, MiB + 1)
    ledger.charge(2, MiB // 2)  # the other session is not affected


def test_the_total_counts_disk_and_open_recordings() -> None:
    ledger = QuotaLedger(RecordingQuota(max_total_bytes=10 * MiB, reserve_bytes=0), 8 * MiB)
    ledger.opened(1, 0)
    ledger.charge(1, MiB)
    ledger.closed(1)
    assert ledger.total == 9 * MiB
    ledger.opened(2, 0)
    with pytest.raises(QuotaExceeded, match=r"recording.max_total_bytes: 10 MiB"):
        ledger.charge(2, MiB + 1)
    ledger.rescanned(2 * MiB + 1)  # retention deleted some: room again
    assert ledger.total == 2 * MiB + 1
    ledger.charge(2, MiB + 2)


def test_free_space_is_looked_at_every_so_often_and_kept_for_the_audit_log() -> None:
    ledger = QuotaLedger(RecordingQuota(reserve_bytes=100 * MiB))
    ledger.opened(1, 0)
    assert ledger.needs_free_space()
    ledger.charge(1, 10, free=500 * MiB)
    assert not ledger.needs_free_space()
    ledger.charge(1, FREE_CHECK_BYTES + 10)
    assert ledger.needs_free_space()
    with pytest.raises(QuotaExceeded, match=r"kept for the audit log \(recording.reserve_bytes\)"):
        ledger.charge(1, FREE_CHECK_BYTES + 20, free=99 * MiB)


def test_no_quota_no_check() -> None:
    ledger = QuotaLedger(RecordingQuota(reserve_bytes=0))
    ledger.opened(1, 0)
    assert not ledger.needs_free_space()
    ledger.charge(1, 1 << 40)


def test_the_recorder_fails_only_the_session_past_its_quota(tmp_path: Path) -> None:
    sent: list[bytes] = []
    quota = RecordingQuota(max_session_bytes=64 << 10, reserve_bytes=0)
    host = RecorderHost(sent.append, QuotaLedger(quota))
    paths = {}
    for sid in (1, 2):
        header = Header(80, 24, 1_700_000_000, "xterm", SessionMeta(f"s{sid}", user="alice"))
        paths[sid] = tmp_path / f"s{sid}.cast"
        start_recording(paths[sid], header)
        host.apply(OPEN, sid, 0.0, header_payload(str(paths[sid]), header))
    for n in range(40):
        host.apply(OUT, 1, n / 10, b"x" * 4096)
    host.apply(OUT, 2, 0.1, b"small")
    host.apply(CLOSE, 2, 0.2, b"")
    host.apply(CLOSE, 1, 5.0, b"")  # the broker still closes it; nothing more is answered
    replies = replies_of(b"".join(sent))
    assert [(op, sid) for op, sid, _ in replies] == [(FAIL, 1), (DONE, 2)]
    assert b"recording.max_session_bytes: 64 KiB" in replies[0][2]
    kept = read_recording(paths[1])  # what was recorded up to the quota stays readable
    assert 60 << 10 < paths[1].stat().st_size < (64 << 10) + 8192
    assert kept.events
