"""The async writer: durable acknowledgements, restart, rotation, failure state, CLI appends."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from broker.auditchain.events import Action
from broker.auditlog import journal as journal_module
from broker.auditlog.segments import load_checkpoints, verify_log
from broker.auditlog.writer import AuditLog, append_sync
from broker.common.errors import AuditVerificationError, AuditWriteError
from tests.unit.audit.conftest import KEY, OTHER_KEY

PUB = KEY.public_key()


def all_lines(directory: Path) -> list[dict[str, object]]:
    out = []
    for path in sorted(directory.glob("audit-*.jsonl")):
        out += [json.loads(line) for line in path.read_bytes().splitlines()]
    return out


async def test_append_returns_the_record_once_it_is_on_disk(tmp_path: Path) -> None:
    log = await AuditLog.open(tmp_path / "audit", KEY)
    record = await log.append("alice", Action.LOGIN_SUCCESS, "gatehouse", {"addr": "127.0.0.1"})
    on_disk = all_lines(tmp_path / "audit")
    assert on_disk[-1]["seq"] == record.seq
    assert on_disk[-1]["sig"] == record.sig
    assert [line["action"] for line in on_disk] == [
        "audit.segment",
        "broker.start",
        "login.success",
    ]
    await log.close()
    verify_log(tmp_path / "audit", PUB)


async def test_concurrent_appends_get_consecutive_seqs(tmp_path: Path) -> None:
    async with await AuditLog.open(tmp_path / "audit", KEY, segment_bytes=8_000) as log:
        records = await asyncio.gather(
            *(log.append("bob", "command.run", "db", {"n": n}) for n in range(300))
        )
    seqs = [r.seq for r in records]
    assert seqs == sorted(seqs)  # queued in call order, sealed in queue order
    headers = [
        line["seq"]
        for line in all_lines(tmp_path / "audit")[2:]
        if line["action"] == "audit.segment"
    ]
    assert sorted(seqs + headers) == list(range(3, 303 + len(headers)))
    report = verify_log(tmp_path / "audit", PUB, every_signature=True)
    assert report.segments > 3
    assert report.last_seq == max(r.seq for r in records)
    assert len({r.seq for r in records}) == 300


async def test_reopen_verifies_the_tail_and_records_the_restart(tmp_path: Path) -> None:
    log = await AuditLog.open(tmp_path / "audit", KEY)
    last = await log.append("alice", "session.start", "web-1")
    await log.close()
    log = await AuditLog.open(tmp_path / "audit", KEY)
    await log.close()
    restart = all_lines(tmp_path / "audit")[-1]
    assert restart["action"] == "broker.restart"
    assert restart["details"]["previous_seq"] == last.seq
    assert restart["prev"] == last.hash()
    verify_log(tmp_path / "audit", PUB)


async def test_reopen_repairs_a_torn_last_line_and_says_so(tmp_path: Path) -> None:
    log = await AuditLog.open(tmp_path / "audit", KEY)
    await log.append("alice", "session.start", "web-1")
    await log.close()
    segment = tmp_path / "audit" / "audit-000001.jsonl"
    with segment.open("ab") as out:
        out.write(b'{"seq":99,"ti')
    log = await AuditLog.open(tmp_path / "audit", KEY)
    await log.close()
    assert all_lines(tmp_path / "audit")[-1]["details"]["repaired_bytes"] == 13
    verify_log(tmp_path / "audit", PUB)


async def test_reopen_refuses_a_tampered_tail(tmp_path: Path) -> None:
    log = await AuditLog.open(tmp_path / "audit", KEY)
    await log.append("alice", "session.start", "web-1")
    await log.close()
    segment = tmp_path / "audit" / "audit-000001.jsonl"
    segment.write_bytes(segment.read_bytes().replace(b"web-1", b"web-2"))
    with pytest.raises(AuditVerificationError, match="bad signature"):
        await AuditLog.open(tmp_path / "audit", KEY)


async def test_reopen_refuses_a_tail_behind_its_checkpoint(tmp_path: Path) -> None:
    log = await AuditLog.open(tmp_path / "audit", KEY)
    for n in range(5):
        await log.append("alice", "command.run", "web-1", {"n": n})
    await log.close()  # writes a checkpoint at the last record
    segment = tmp_path / "audit" / "audit-000001.jsonl"
    segment.write_bytes(b"".join(segment.read_bytes().splitlines(keepends=True)[:-2]))
    with pytest.raises(AuditVerificationError, match="truncated tail"):
        await AuditLog.open(tmp_path / "audit", KEY)


async def test_reopen_refuses_records_of_an_untrusted_key(tmp_path: Path) -> None:
    log = await AuditLog.open(tmp_path / "audit", OTHER_KEY)
    await log.close()
    with pytest.raises(AuditVerificationError, match="unknown key"):
        await AuditLog.open(tmp_path / "audit", KEY)
    log = await AuditLog.open(tmp_path / "audit", KEY, trusted_keys=[OTHER_KEY.public_key()])
    await log.close()
    report = verify_log(tmp_path / "audit", [PUB, OTHER_KEY.public_key()])
    assert len(report.key_ids) == 2


async def test_write_failure_makes_the_log_unhealthy_for_good(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = await AuditLog.open(tmp_path / "audit", KEY)
    assert log.healthy

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(journal_module.os, "fsync", broken_fsync)
    with pytest.raises(AuditWriteError, match="Input/output error"):
        await log.append("alice", "session.start", "web-1")
    assert not log.healthy
    assert isinstance(await asyncio.wait_for(log.wait_failed(), 1), AuditWriteError)
    monkeypatch.setattr(journal_module.os, "fsync", os.fsync)
    with pytest.raises(AuditWriteError):
        await log.append("alice", "session.start", "web-1")
    await log.close()


async def test_bad_fields_are_refused_without_harming_the_log(tmp_path: Path) -> None:
    async with await AuditLog.open(tmp_path / "audit", KEY) as log:
        for bad in [
            ("alice", "Not An Action", "t", {}),
            ("alice", "command.run", "t", {"x": object()}),
            ("alice", "command.run", "t", {"x": float("nan")}),
            ("alice", "command.run", "t", {1: "int key"}),
            ("alice", "command.run", "t", {"x": "\ud800"}),
            (None, "command.run", "t", {}),
        ]:
            with pytest.raises(ValueError, match="audit"):
                await log.append(*bad)  # type: ignore[arg-type]
        assert log.healthy
        await log.append("alice", "command.run", "t", {"ok": ("tuple", "becomes", "list")})
    assert all_lines(tmp_path / "audit")[-1]["details"] == {"ok": ["tuple", "becomes", "list"]}
    verify_log(tmp_path / "audit", PUB)


async def test_details_are_copied_at_append(tmp_path: Path) -> None:
    details = {"rows": [1]}
    async with await AuditLog.open(tmp_path / "audit", KEY) as log:
        record = await log.append("alice", "sql.statement", "db", details)
        details["rows"].append(2)
    assert record.details == {"rows": [1]}


async def test_listeners_see_durable_records(tmp_path: Path) -> None:
    seen: list[int] = []
    async with await AuditLog.open(tmp_path / "audit", KEY) as log:
        remove = log.add_listener(lambda record: seen.append(record.seq))
        first = await log.append("a", "command.run", "t")
        remove()
        await log.append("a", "command.run", "t")
    assert seen == [first.seq]


async def test_timed_checkpoint(tmp_path: Path) -> None:
    async with await AuditLog.open(tmp_path / "audit", KEY, checkpoint_interval=0.05) as log:
        record = await log.append("a", "command.run", "t")
        for _ in range(100):
            points = load_checkpoints(tmp_path / "audit" / "checkpoints.jsonl")
            if points:
                break
            await asyncio.sleep(0.02)
        assert points[-1].seq == record.seq
        assert points[-1].hash == record.hash()


async def test_append_after_close_is_refused(tmp_path: Path) -> None:
    log = await AuditLog.open(tmp_path / "audit", KEY)
    await log.close()
    with pytest.raises(AuditWriteError, match="closed"):
        await log.append("a", "command.run", "t")


async def test_cli_append_interleaves_with_a_running_broker(tmp_path: Path) -> None:
    async with await AuditLog.open(tmp_path / "audit", KEY) as log:
        await log.append("alice", "command.run", "web-1")
        cli = await asyncio.to_thread(
            append_sync, tmp_path / "audit", KEY, "cli:root", Action.SECRET_SET, "web-1"
        )
        after = await log.append("alice", "command.run", "web-1")
    assert after.seq == cli.seq + 1
    assert after.prev == cli.hash()
    verify_log(tmp_path / "audit", PUB, every_signature=True)


def test_append_sync_on_a_fresh_directory(tmp_path: Path) -> None:
    record = append_sync(tmp_path / "audit", KEY, "cli:root", "secret.set", "db", {"kind": "pw"})
    assert (record.seq, record.action) == (2, "secret.set")
    verify_log(tmp_path / "audit", PUB)


def test_append_sync_refuses_a_bad_last_record(tmp_path: Path) -> None:
    append_sync(tmp_path / "audit", KEY, "cli:root", "secret.set", "db")
    segment = tmp_path / "audit" / "audit-000001.jsonl"
    segment.write_bytes(segment.read_bytes().replace(b'"db"', b'"dc"'))
    with pytest.raises(AuditWriteError, match="last record is bad"):
        append_sync(tmp_path / "audit", KEY, "cli:root", "secret.set", "db")
