"""`gatehouse demo` shows both sides of an approval: the printed approver login decides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.harness.process import free_port
from tests.harness.ssh_client import ssh_client_argv

ROOT = Path(__file__).resolve().parents[2]


def test_demo_prints_an_approver_login_that_approves_the_demo_users_request(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "broker.cli",
            "demo",
            "--dir",
            str(tmp_path / "demo"),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env={**os.environ, "HOME": str(home), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        lines = []
        for line in demo.stdout:
            lines.append(line)
            if "listening on" in line or len(lines) > 50:
                break
        logins = [ln.strip() for ln in lines if ln.strip().startswith("ssh ") and " sql " not in ln]
        assert len(logins) == 2, lines
        assert f"-p {port} demo@127.0.0.1" in logins[0]
        assert f"-p {port} approver@127.0.0.1" in logins[1]
        key = tmp_path / "demo" / "demo_ed25519"

        def ssh(user: str, *remote: str) -> subprocess.CompletedProcess[bytes]:
            argv = ssh_client_argv(port, user, key, *remote, tty=False)
            return subprocess.run(argv, capture_output=True, timeout=30, check=False)

        listed = ssh("demo", "list")
        assert b"shell-prod" in listed.stdout
        assert b"(approval)" in listed.stdout
        asked = ssh("demo", "run", "shell-prod", "--no-wait", "--reason", "try-it", "--", "echo hi")
        assert asked.returncode == 75, asked.stderr
        request_id = asked.stdout.decode().strip()
        assert request_id in ssh("approver", "approvals").stdout.decode()
        assert ssh("approver", "approve", request_id).returncode == 0
        ran = ssh("demo", "run", "--request", request_id, "shell-prod", "--", "echo hi")
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == b"hi"
    finally:
        demo.terminate()
        demo.wait(timeout=15)
