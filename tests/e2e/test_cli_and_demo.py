"""The `gatehouse` command: init, check (file:line errors), serve refusing bad config, the demo."""

from __future__ import annotations

import getpass
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.process import free_port
from tests.harness.ssh_client import ssh_client_argv
from tests.harness.tmux import TmuxClient

ROOT = Path(__file__).resolve().parents[2]


def gatehouse(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broker.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


def test_init_then_check(tmp_path: Path) -> None:
    result = gatehouse("init", str(tmp_path / "gh"))
    assert result.returncode == 0, result.stderr
    keys = tmp_path / "gh" / "state" / "keys"
    for name in ("ssh_host_ed25519", "vault.key", "audit_ed25519", "masking.key"):
        assert (keys / name).stat().st_mode & 0o777 == 0o600, name
    assert (keys / "audit_ed25519.pub").exists()
    checked = gatehouse("check", "-c", str(tmp_path / "gh" / "gatehouse.yaml"))
    assert checked.returncode == 0, checked.stderr
    assert "Warning" not in checked.stderr  # no library warnings (asyncssh's DSA key types)
    assert "ok:" in checked.stdout
    assert re.search(r"^roles \(\S+default.yaml\):$", checked.stdout, re.M), checked.stdout
    assert "  reviewers: reviewers\n" in checked.stdout
    assert "  unmasked: unmasked\n" in checked.stdout
    again = gatehouse("init", str(tmp_path / "gh"))
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_serve_with_an_unreadable_host_key_says_so_and_exits(tmp_path: Path) -> None:
    """A failure after the audit log and the recorder started stops them and exits (it hung)."""
    assert gatehouse("init", str(tmp_path / "gh")).returncode == 0
    key = tmp_path / "gh" / "state" / "keys" / "ssh_host_ed25519"
    key.write_text("not a key\n")
    started = time.monotonic()
    result = gatehouse("serve", "-c", str(tmp_path / "gh" / "gatehouse.yaml"), "--port", "0")
    assert time.monotonic() - started < 30
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"gatehouse: the broker could not start: cannot read the host key {key}: "
        "Invalid private key"
    )
    assert "listening" not in result.stdout
    leftover = subprocess.run(
        ["pgrep", "-f", f"broker.recording.host.*{tmp_path}"], capture_output=True, check=False
    )
    assert leftover.stdout == b"", "the recorder process outlived the broker"


def add_connection(config: Path, line: str) -> int:
    """Add ``line`` under `connections:` in an `init` config; returns its line number."""
    text = config.read_text().replace("connections:\n", f"connections:\n  {line}\n", 1)
    config.write_text(text)
    return next(i for i, ln in enumerate(text.splitlines(), 1) if ln.strip() == line)


def refused_by_check_and_serve(config: Path, expected: str) -> None:
    for args in (("check", "-c", str(config)), ("serve", "-c", str(config), "--port", "0")):
        result = gatehouse(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr, result.stderr
        assert "listening" not in result.stdout


def test_check_and_serve_refuse_bad_config(tmp_path: Path) -> None:
    gatehouse("init", str(tmp_path / "gh"))
    config = tmp_path / "gh" / "gatehouse.yaml"
    pristine = config.read_text()
    line = add_connection(config, "tools: {type: local, command: bash, run_as: nobody}")
    refused_by_check_and_serve(
        config, f"{config}:{line}: connections.tools.command: must be a list"
    )
    policy = tmp_path / "gh" / "policies" / "default.yaml"
    policy.write_text(policy.read_text().replace("action: deny}", "action: nope}", 1))
    config.write_text(pristine)
    result = gatehouse("check", "-c", str(config))
    assert result.returncode == 2
    assert re.search(
        rf"{re.escape(str(policy))}:\d+: commands\.0\.action: must be one of", result.stderr
    )


@pytest.mark.parametrize(
    ("connection", "message"),
    [
        ("tools: {type: local, command: [bash, -l]}", "connections.tools.run_as: is required"),
        (
            "tools: {type: local, command: [bash, -l], run_as: root}",
            "connections.tools.run_as: must not be root",
        ),
        (
            f"tools: {{type: local, command: [bash, -l], run_as: {getpass.getuser()}}}",
            "connections.tools.run_as: ",
        ),
        (
            "tools: {type: local, command: [bash], run_as: no-such-account-9}",
            "connections.tools.run_as: no account 'no-such-account-9' on this host",
        ),
    ],
)
def test_local_connection_needs_an_unprivileged_account(
    tmp_path: Path, connection: str, message: str
) -> None:
    """`run_as` missing, root, the broker's own account (the one running check), or unknown."""
    gatehouse("init", str(tmp_path / "gh"))
    config = tmp_path / "gh" / "gatehouse.yaml"
    line = add_connection(config, connection)
    refused_by_check_and_serve(config, f"{config}:{line}: {message}")


def test_init_hands_out_no_broker_shell(tmp_path: Path) -> None:
    gatehouse("init", str(tmp_path / "gh"))
    config = (tmp_path / "gh" / "gatehouse.yaml").read_text()
    live = [ln for ln in config.splitlines() if not ln.lstrip().startswith("#")]
    assert not any("type: local" in ln for ln in live)
    assert "shell" not in (tmp_path / "gh" / "policies" / "default.yaml").read_text()


def test_secret_set_never_echoes(tmp_path: Path) -> None:
    gatehouse("init", str(tmp_path / "gh"))
    config = tmp_path / "gh" / "gatehouse.yaml"
    config.write_text(
        config.read_text().replace(
            "connections:\n",
            "connections:\n  web-1: {type: ssh, host: 127.0.0.1, user: u, credential: web-1,\n"
            '          host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"}\n',
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "broker.cli", "secret", "set", "web-1", "-c", str(config)],
        input="planted-Secret-991\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "planted-Secret-991" not in result.stdout + result.stderr
    tail = gatehouse("audit", "tail", "-c", str(config))
    assert "secret.set" in tail.stdout
    assert "planted-Secret-991" not in tail.stdout
    unknown = gatehouse("secret", "set", "nope", "-c", str(config))
    assert unknown.returncode == 1
    assert "unknown connection 'nope'" in unknown.stderr


def test_demo_from_nothing_to_a_shell(
    tmp_path: Path, tmux_client: Callable[..., TmuxClient]
) -> None:
    """A newcomer: `gatehouse demo`, the printed ssh command, the picker, a shell, back, quit."""
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
        printed = "".join(lines)
        assert "generated a demo key" in printed
        command = next(ln.strip() for ln in lines if ln.strip().startswith("ssh "))
        assert f"-p {port} demo@127.0.0.1" in command
        key = tmp_path / "demo" / "demo_ed25519"
        client = tmux_client(ssh_client_argv(port, "demo", key, tty=True))
        client.wait_for("type to filter connections", timeout=15)
        client.send_text("shell")  # the demo also lists db, ssh (when it has them)
        # the filter has applied (shell, shell-prod of db, shell, shell-prod, ssh): Enter now
        # takes the first row shown, shell, not db (first before the filter)
        client.wait_for(re.compile(r"\b[12] of [3-9] connections"), timeout=15)
        client.send_keys("Enter")
        deadline = time.monotonic() + 20
        while "type to filter" in client.capture() and time.monotonic() < deadline:
            time.sleep(0.05)  # the picker stepped aside: keys now go to the shell
        client.send_text("echo demo-$((2*21))-$(id -un)\n")  # as root: its own account
        client.wait_for(re.compile(r"^demo-42-gatehouse-demo", re.M), timeout=30)
        client.send_text("exit\n")
        client.wait_for("Session on shell ended", timeout=15)
        client.send_keys("Escape")  # clears the filter; q then quits
        client.wait_for("type to filter connections", timeout=15)
        client.send_keys("q")
        assert client.wait_exit(timeout=10) == 0
    finally:
        demo.terminate()
        demo.wait(timeout=15)
