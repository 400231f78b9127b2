"""`gatehouse demo` with its private sshd: the real demo, a real OpenSSH client as the demo
user, `run ssh -- …` answered by the target; stopped with the demo; a second start reuses."""

from __future__ import annotations

import getpass
import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from broker.runtime.demo_sshd import find_sshd
from tests.harness.process import free_port
from tests.harness.ssh_client import ssh_client_argv

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(find_sshd() is None, reason="no sshd binary on this machine")


@contextmanager
def demo(directory: Path, home: Path, port: int) -> Iterator[str]:
    """Run `gatehouse demo` until it listens; yields what it printed; stops it on exit."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "broker.cli", "demo", "--dir", str(directory), "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "HOME": str(home), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    try:
        printed = b""
        deadline = time.monotonic() + 60
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while b"listening on" not in printed:
                left = deadline - time.monotonic()
                assert left > 0, printed.decode()
                assert proc.poll() is None, printed.decode()
                if sel.select(min(left, 0.5)):
                    printed += os.read(proc.stdout.fileno(), 4096)
        yield printed.decode()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stdout.close()


def run_on_target(directory: Path, port: int, command: str) -> subprocess.CompletedProcess[str]:
    key = directory / "demo_ed25519"
    argv = ssh_client_argv(port, "demo", key, "run", "ssh", "--", command, tty=False)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def sshd_pid(printed: str) -> int:
    found = re.search(r"started sshd \(PID (\d+)\) on 127\.0\.0\.1:\d+", printed)
    assert found is not None, printed
    return int(found[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_demo_ssh_connection_reaches_its_own_sshd_and_a_rerun_reuses(tmp_path: Path) -> None:
    home, directory = tmp_path / "home", tmp_path / "demo"
    home.mkdir()
    port = free_port()
    with demo(directory, home, port) as printed:
        assert "created the state dir" in printed
        assert "generated a demo key" in printed
        assert "generated demo sshd host key" in printed
        assert "vault credential 'demo-ssh'" in printed
        listed = re.search(r"connections: (.*)", printed)
        assert listed is not None, printed
        assert {"shell", "shell-prod", "ssh"} <= set(listed[1].split(", "))
        first = sshd_pid(printed)
        result = run_on_target(directory, port, "echo from-the-target; id -un")
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == ["from-the-target", getpass.getuser()]
    assert not alive(first)
    pinned = (directory / "gatehouse.yaml").read_text()
    with demo(directory, home, port) as printed:
        assert "reused the state dir" in printed
        assert "reused demo key" in printed
        assert "generated" not in printed
        assert "reused demo sshd host key" in printed
        assert "reused vault credential 'demo-ssh'" in printed
        second = sshd_pid(printed)
        result = run_on_target(directory, port, "echo again")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "again\n"
        host_key = re.search(r'"host_key": "([^"]+)"', pinned)
        assert host_key is not None
        assert host_key[1] in (directory / "gatehouse.yaml").read_text()  # the same pinned key
    assert not alive(second)
