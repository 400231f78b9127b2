"""The recorder process: output is never forwarded faster than it is recorded, and a
recorder that dies ends the sessions it was recording (strict mode), then comes back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

import psutil
import pytest

from recordings.asciicast import read_recording
from tests.support.broker import BrokerProcess, shell_broker


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    proc = shell_broker()
    with proc:
        yield proc


def recorder_of(broker: BrokerProcess) -> psutil.Process:
    assert broker.proc is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for child in psutil.Process(broker.proc.pid).children():
            if "broker.recording.host" in child.cmdline():
                return child
        time.sleep(0.05)
    raise AssertionError("no recorder process under the broker")


def audit(broker: BrokerProcess, action: str) -> list[dict[str, object]]:
    out = []
    for seg in sorted((broker.dir / "state" / "audit").glob("audit-*.jsonl")):
        for line in seg.read_text().splitlines():
            record = json.loads(line)
            if record["action"] == action:
                out.append(record["details"])
    return out


def test_a_stalled_recorder_pauses_the_target_and_loses_nothing(broker: BrokerProcess) -> None:
    recorder = recorder_of(broker)
    assert broker.proc is not None
    broker_ps = psutil.Process(broker.proc.pid)
    size = 40 << 20
    baseline = broker_ps.memory_info().rss
    recorder.send_signal(signal.SIGSTOP)
    peak = 0
    try:
        proc = subprocess.Popen(
            broker.ssh("alice", "run", "shell", "--", f"head -c {size} /dev/zero | tr '\\0' x"),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        got = 0
        assert proc.stdout is not None
        stdout = proc.stdout

        def read_all() -> None:
            nonlocal got
            while chunk := stdout.read(1 << 16):
                got += len(chunk)

        reader = threading.Thread(target=read_all)
        reader.start()
        for _ in range(30):  # 1.5 s with the recorder stopped
            time.sleep(0.05)
            peak = max(peak, broker_ps.memory_info().rss)
        stalled_at = got
    finally:
        recorder.send_signal(signal.SIGCONT)
    reader.join(timeout=60)
    assert proc.wait(timeout=60) == 0
    assert stalled_at < size // 2, "output kept flowing while nothing could be recorded"
    assert got == size
    closed = audit(broker, "recording.closed")[-1]
    rec = read_recording(broker.dir / "state" / "recordings" / f"{closed['session']}.cast")
    assert sum(len(e.data) for e in rec.events if e.code == "o") == size
    print(f"broker RSS while the recorder was stopped: +{(peak - baseline) >> 20} MiB")
    assert peak - baseline < 24 << 20, "the broker buffered output instead of pausing the target"


def test_a_dead_recorder_ends_the_session_and_the_next_one_works(broker: BrokerProcess) -> None:
    recorder = recorder_of(broker)
    proc = subprocess.Popen(
        broker.ssh("alice", "run", "shell", "--", "echo started; sleep 30; echo not-reached"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"started\n"
    os.kill(recorder.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode != 0
    assert b"not-reached" not in out
    assert b"recording failed" in err
    failed = audit(broker, "recording.closed")[-1]
    assert failed["sha256"] == ""
    assert "recording failed" in str(failed["error"])
    again = broker.run_ssh("alice", "run", "shell", "--", "echo after-restart")
    assert again.returncode == 0, again.stderr
    assert b"after-restart" in again.stdout
    assert recorder_of(broker).pid != recorder.pid


def test_the_broker_runs_on_the_system_allocator(broker: BrokerProcess) -> None:
    """Freed session memory can only go back to the OS from malloc (see decision 007)."""
    assert broker.proc is not None
    environ = psutil.Process(broker.proc.pid).environ()
    assert environ.get("PYTHONMALLOC") == "malloc"
    assert environ.get("PYTHONMALLOC") == recorder_of(broker).environ().get("PYTHONMALLOC")


def test_nul_bytes_reach_the_user_and_are_counted_not_recorded(broker: BrokerProcess) -> None:
    result = broker.run_ssh(
        "alice", "run", "shell", "--", "printf 'a\\0\\0b\\0'; printf 'c\\0' >&2"
    )
    assert result.returncode == 0
    assert result.stdout == b"a\x00\x00b\x00"
    assert result.stderr.startswith(b"c\x00")
    closed = audit(broker, "recording.closed")[-1]
    assert closed["nul_bytes_not_recorded"] == 4
    rec = read_recording(broker.dir / "state" / "recordings" / f"{closed['session']}.cast")
    assert sorted(e.data for e in rec.events if e.code == "o") == ["ab", "c"]
