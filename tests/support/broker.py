"""A real broker process (`gatehouse serve`) on 127.0.0.1 for integration and end-to-end tests."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.harness.accounts import local_connection
from tests.harness.ssh_client import ssh_client_argv

ROOT = Path(__file__).resolve().parents[2]


def keygen(path: Path, comment: str = "gatehouse-test") -> str:
    """Create an ed25519 key pair; returns the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
    )
    return path.with_name(path.name + ".pub").read_text().strip()


class BrokerProcess:
    """`gatehouse serve` with its own state dir, users with fresh keys, and given connections."""

    def __init__(
        self,
        users: Mapping[str, list[str]],
        connections: Mapping[str, Mapping[str, Any]],
        policy: str,
        *,
        extra: Mapping[str, Any] | None = None,
        workers: int = 1,
        env: Mapping[str, str] | None = None,
        verbose: bool = False,
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gh-broker-"))
        self.keys: dict[str, Path] = {}
        config_users = {}
        for name, groups in users.items():
            key = self.dir / f"{name}_ed25519"
            config_users[name] = {"keys": [keygen(key, name)], "groups": groups}
            self.keys[name] = key
        (self.dir / "policies").mkdir()
        (self.dir / "policies" / "test.yaml").write_text(policy)
        config = {
            "listen": "127.0.0.1:0",
            "state_dir": "./state",
            "users": config_users,
            "connections": dict(connections),
            "policies": ["policies/test.yaml"],
            **(extra or {}),
        }
        self.config = self.dir / "gatehouse.yaml"
        self.config.write_text(json.dumps(config, indent=1))
        self.port = 0
        self.workers = workers
        self.env = dict(env or {})
        """Extra environment variables of the broker process."""
        self.verbose = verbose
        """Run `gatehouse -v serve`: debug lines in the log too."""
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / "broker.log"

    def cli(self, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        """Run a `gatehouse` sub-command against this broker's config."""
        return subprocess.run(
            [sys.executable, "-m", "broker.cli", *args, "-c", str(self.config)],
            input=stdin,
            capture_output=True,
            timeout=60,
            cwd=ROOT,
            check=False,
        )

    def set_secret(self, connection: str, value: bytes) -> None:
        result = self.cli("secret", "set", connection, stdin=value)
        assert result.returncode == 0, result.stderr.decode()

    def start(self, timeout: float = 20.0) -> BrokerProcess:
        log = self.log_path.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "broker.cli", *(["-v"] if self.verbose else [])),
                *("serve", "-c", str(self.config)),
                *("--port", "0", "--workers", str(self.workers)),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=ROOT,
            env=env,
        )
        log.close()
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        buf = b""
        while b"listening on" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"broker did not start:\n{self.log()}")
            if sel.select(min(left, 0.2)):
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk and self.proc.poll() is not None:
                    continue
                buf += chunk
        sel.close()
        line = next(ln for ln in buf.decode().splitlines() if "listening on" in ln)
        found = re.search(r"listening on \S+:(\d+)", line)
        assert found is not None, line
        self.port = int(found[1])
        return self

    def ssh(self, user: str, *remote: str, tty: bool = False) -> list[str]:
        """OpenSSH client argv to this broker as ``user``."""
        return ssh_client_argv(self.port, user, self.keys[user], *remote, tty=tty)

    def run_ssh(
        self, user: str, *remote: str, timeout: float = 30, stdin: bytes = b""
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            self.ssh(user, *remote), input=stdin, capture_output=True, timeout=timeout, check=False
        )

    def audit_records(self) -> list[dict[str, Any]]:
        """Every record of the audit log, oldest first (all segments)."""
        out: list[dict[str, Any]] = []
        for seg in sorted((self.dir / "state" / "audit").glob("audit-*.jsonl")):
            out += [json.loads(line) for line in seg.read_text().splitlines() if line.strip()]
        return out

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def __enter__(self) -> BrokerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


SHELL_POLICY = """\
access:
  - {name: all, groups: [engineers], connections: ["*"], action: allow}
"""
"""alice (engineers) may use every connection."""


def shell_broker(*, workers: int = 1) -> BrokerProcess:
    """A broker with user alice and one `local` connection `shell` (bash), not yet started."""
    return BrokerProcess(
        {"alice": ["engineers"]},
        {"shell": local_connection(["bash", "--norc"])},
        SHELL_POLICY,
        workers=workers,
    )
