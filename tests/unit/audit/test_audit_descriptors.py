"""With every descriptor taken, the audit log waits and writes; it never turns unhealthy for it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.auditchain.events import Action
from broker.auditlog.segments import load_checkpoints, verify_log
from broker.auditlog.writer import AuditLog, append_sync
from tests.unit.audit.conftest import KEY

PUB = KEY.public_key()


@contextlib.contextmanager
def no_descriptor_left(spare: int = 0) -> Iterator[list[int]]:
    """Lower the soft limit near what is open and take every descriptor left (minus ``spare``)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    taken: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 64, hard))
    try:
        with pytest.raises(OSError, match="Too many open files"):  # noqa: PT012
            while True:
                taken.append(os.open(os.devnull, os.O_RDONLY))
        for _ in range(spare):
            os.close(taken.pop())
        yield taken
    finally:
        for fd in taken:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_appends_and_checkpoints_need_no_new_descriptor(tmp_path: Path) -> None:
    log = await AuditLog.open(tmp_path / "audit", KEY, checkpoint_every=5)
    with no_descriptor_left():
        with pytest.raises(OSError, match="Too many open files") as exc:  # none left
            os.open(os.devnull, os.O_RDONLY)
        assert exc.value.errno == errno.EMFILE
        for n in range(12):  # … yet records and checkpoints are written
            await log.append("alice", Action.COMMAND_RUN, "web-1", {"n": n})
        assert log.healthy
    await log.close()
    assert load_checkpoints(tmp_path / "audit" / "checkpoints.jsonl")
    assert verify_log(tmp_path / "audit", PUB).last_seq == 14


async def test_a_batch_that_needs_a_descriptor_waits_for_one(tmp_path: Path) -> None:
    log = await AuditLog.open(tmp_path / "audit", KEY)
    with no_descriptor_left() as taken:
        # another writer (a CLI command, a sibling worker) moved the tail: the next batch
        # must re-read it, which needs descriptors that are not there
        for fd in taken[:8]:
            os.close(fd)
        del taken[:8]
        append_sync(tmp_path / "audit", KEY, "root", Action.SECRET_SET, "web-1", {})
        for _ in range(8):
            taken.append(os.open(os.devnull, os.O_RDONLY))
        pending = asyncio.ensure_future(log.append("alice", Action.COMMAND_RUN, "web-1", {}))
        done, _ = await asyncio.wait({pending}, timeout=0.5)
        assert not done  # waiting, not failed
        assert log.healthy
        for fd in taken[:8]:  # descriptors come free again
            os.close(fd)
        del taken[:8]
        record = await asyncio.wait_for(pending, timeout=10)
    assert log.healthy
    await log.close()
    report = verify_log(tmp_path / "audit", PUB)
    assert report.last_seq == record.seq == 4  # segment, start, secret.set, this one: once each
