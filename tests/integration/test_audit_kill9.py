"""kill -9 of a process appending under load loses no acknowledged record; restart continues."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from broker.auditlog.keys import generate_signing_key
from broker.auditlog.segments import verify_log
from broker.auditlog.writer import AuditLog

REPO = Path(__file__).resolve().parents[2]

APPENDER = r"""
import asyncio, sys
from pathlib import Path
from broker.auditlog.keys import load_signing_key
from broker.auditlog.writer import AuditLog

async def main() -> None:
    log = await AuditLog.open(
        Path(sys.argv[1]), load_signing_key(Path(sys.argv[2])), segment_bytes=150_000,
        checkpoint_every=500,
    )
    async def worker(w: int) -> None:
        n = 0
        while True:
            record = await log.append("load", "command.run", "web-1", {"w": w, "n": n})
            sys.stdout.write(f"{record.seq}\n")
            sys.stdout.flush()
            n += 1
    await asyncio.gather(*(worker(w) for w in range(32)))

asyncio.run(main())
"""


def present_seqs(directory: Path) -> set[int]:
    seqs = set()
    for path in sorted(directory.glob("audit-*.jsonl")):
        for line in path.read_bytes().split(b"\n"):
            with contextlib.suppress(ValueError):  # the torn line of an unacknowledged write
                seqs.add(json.loads(line)["seq"])
    return seqs


def run_and_kill(audit: Path, key_path: Path, want: int) -> set[int]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(audit), str(key_path)],
        stdout=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    assert child.stdout is not None
    acked: set[int] = set()
    deadline = time.monotonic() + 60
    try:
        while len(acked) < want and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acked.add(int(line))
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()  # acks printed before the kill
        acked.update(int(seq) for seq in rest.split())
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    return acked


async def test_kill_9_under_load_loses_no_acknowledged_record(tmp_path: Path) -> None:
    key_path = tmp_path / "keys" / "audit_ed25519"
    key = generate_signing_key(key_path)
    audit = tmp_path / "audit"
    total_acked = 0
    for _round in range(2):
        acked = run_and_kill(audit, key_path, want=3000)
        assert len(acked) >= 3000
        present = present_seqs(audit)
        lost = acked - present
        print(f"acknowledged {len(acked)}, present {len(present)}, lost {len(lost)}")
        assert not lost
        total_acked += len(acked)

        log = await AuditLog.open(audit, key)  # verifies the tail, repairs a torn line
        restart = await log.append("test", "command.run", "after-restart")
        await log.close()
        report = verify_log(audit, key.public_key(), every_signature=True)
        assert report.last_seq == restart.seq
        assert report.segments > 1
        lines = b"".join(p.read_bytes() for p in sorted(audit.glob("audit-*.jsonl"))).splitlines()
        restart_record = json.loads(lines[-2])
        assert restart_record["action"] == "broker.restart"
        assert restart_record["details"]["previous_seq"] >= max(acked)
    assert total_acked >= 6000
