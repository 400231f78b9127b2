"""Sessions are recorded (masked output, markers), hashed into the audit log, refused when
recording is impossible (strict), and deleted by retention with an audit record."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.config.load import load_all
from broker.config.state import StatePaths
from broker.recording.retention import sweep_once
from broker.runtime.provision import ensure_keys
from broker.services import LogEvents, Services
from recordings.asciicast import Header, SessionMeta, read_recording
from recordings.store import RecordingStore
from tests.support.broker import BrokerProcess, shell_broker


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    proc = shell_broker()
    with proc:
        yield proc


def audit_records(broker: BrokerProcess) -> list[dict[str, object]]:
    out = []
    for seg in sorted((broker.dir / "state" / "audit").glob("audit-*.jsonl")):
        out += [json.loads(line) for line in seg.read_text().splitlines() if line.strip()]
    return out


def test_run_is_recorded_and_hash_audited(broker: BrokerProcess) -> None:
    result = broker.run_ssh(
        "alice", "run", "shell", "--", "echo recorded-$((20+22)); echo oops >&2"
    )
    assert result.returncode == 0
    records = audit_records(broker)
    closed = [r for r in records if r["action"] == "recording.closed"][-1]
    details = closed["details"]
    assert isinstance(details, dict)
    path = broker.dir / "state" / "recordings" / f"{details['session']}.cast"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == details["sha256"]
    rec = read_recording(path)
    assert rec.header.meta is not None
    assert (rec.header.meta.user, rec.header.meta.connection, rec.header.meta.kind) == (
        "alice",
        "shell",
        "run",
    )
    text = "".join(e.data for e in rec.events if e.code == "o")
    assert "recorded-42" in text
    assert "oops" in text
    markers = [e.data for e in rec.events if e.code == "m"]
    assert markers == ["echo recorded-$((20+22)); echo oops >&2"]
    assert not [e for e in rec.events if e.code == "i"]  # keystrokes are never stored
    end = [r for r in records if r["action"] == "session.end"][-1]
    assert isinstance(end["details"], dict)
    assert end["details"]["recording_sha256"] == details["sha256"]


def test_strict_mode_refuses_unrecordable_session(broker: BrokerProcess) -> None:
    rec_dir = broker.dir / "state" / "recordings"
    moved = rec_dir.with_name("recordings.moved")
    rec_dir.rename(moved)
    rec_dir.write_text("not a directory")
    try:
        result = broker.run_ssh("alice", "run", "shell", "--", "echo should-not-run")
    finally:
        rec_dir.unlink()
        moved.rename(rec_dir)
    assert result.returncode != 0
    assert b"cannot be recorded" in result.stderr
    assert b"should-not-run" not in result.stdout


def test_retention_deletes_and_audits(tmp_path: Path) -> None:
    shutil.copytree(Path("policies"), tmp_path / "policies")
    (tmp_path / "gatehouse.yaml").write_text(
        "state_dir: ./state\npolicies: [policies/default.yaml]\nrecording: {retention_days: 30}\n"
    )
    config, policies = load_all(tmp_path / "gatehouse.yaml")
    ensure_keys(StatePaths(config.state_dir))
    events = LogEvents()
    store = RecordingStore(config.state_dir / "recordings")
    old = int(time.time()) - 31 * 86400
    for sid, started in (("old-one", old), ("new-one", int(time.time()))):
        writer = store.create(
            Header(80, 24, started, meta=SessionMeta(sid, user="bob", connection="c"))
        )
        writer.output(0.1, "hello")
        writer.close()
    expected_sha = store.sha256("old-one")

    async def go() -> list[str]:
        services = Services(config, policies, StatePaths(config.state_dir).vault(), events)
        return await sweep_once(
            services.review.store,
            services.config.recording.retention_days,
            services.events.emit,
        )

    assert asyncio.run(go()) == ["old-one"]
    assert [i.session_id for i in store.list()] == ["new-one"]
    deleted = [e for e in events.events if e[1] == "recording.deleted"]
    assert len(deleted) == 1
    assert deleted[0][2] == "old-one"
    assert deleted[0][3]["sha256"] == expected_sha
    assert deleted[0][3]["user"] == "bob"


def test_run_command_is_audited_as_command_run(broker: BrokerProcess) -> None:
    broker.run_ssh("alice", "run", "shell", "--", "echo audited-run")
    runs = [r for r in audit_records(broker) if r["action"] == "command.run"]
    assert runs
    last = runs[-1]
    assert isinstance(last["details"], dict)
    assert last["details"]["command"] == "echo audited-run"
    assert last["actor"] == "alice"
    assert last["target"] == "shell"
