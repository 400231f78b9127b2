"""Local connections in config: `run_as` is required, never root, never the broker's own account."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from broker.common.accounts import Account, Host
from broker.common.errors import ConfigError
from broker.config.model import Connection, load_config

CONFIG = """\
listen: 127.0.0.1:2222
connections:
  web-1: {type: ssh, host: 127.0.0.1, user: deploy, credential: web-1,
          host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"}
  tools:
    type: local
    command: [less, app.log]
    LOCAL
"""
LINE = 5
"""The line of `tools:` (errors about a missing key point at the connection)."""
KEY_LINE = 8
"""The line the LOCAL placeholder is on (errors about a given key point at it)."""

ROOT = Account("root", 0, 0, (0,), "/root", "/bin/bash")
TOOR = Account("toor", 0, 0, (0,), "/root", "/bin/sh")
GATEHOUSE = Account("gatehouse", 990, 990, (990,), "/var/lib/gatehouse", "/usr/sbin/nologin")
TOOLS = Account("gh-tools", 991, 991, (991, 4), "/home/gh-tools", "/bin/bash")
DOCKERY = Account("ops", 992, 992, (992, 998), "/home/ops", "/bin/bash", ("ops", "docker"))
WHEELISH = Account("wheely", 993, 0, (0,), "/home/wheely", "/bin/bash")
ACCOUNTS = {a.name: a for a in (ROOT, TOOR, GATEHOUSE, TOOLS, DOCKERY, WHEELISH)}


def host(broker: Account) -> Host:
    return Host(broker=broker, lookup=ACCOUNTS.get)


def load(tmp_path: Path, local: str, on: Host | None = None) -> tuple[Path, Connection]:
    path = tmp_path / "gatehouse.yaml"
    path.write_text(CONFIG.replace("LOCAL", local))
    return path, load_config(path, on).connections["tools"]


def refused(tmp_path: Path, local: str, on: Host | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, local, on)
    return info.value


@pytest.mark.parametrize(
    ("local", "on", "line", "key", "message"),
    [
        ("description: no account", None, LINE, "connections.tools.run_as", "is required"),
        ("run_as: root", None, KEY_LINE, "connections.tools.run_as", "must not be root"),
        ("run_as: toor", host(ROOT), KEY_LINE, "connections.tools.run_as", "is root (uid 0)"),
        ("run_as: root", host(GATEHOUSE), KEY_LINE, "connections.tools.run_as", "must not be root"),
        (
            "run_as: gatehouse",
            host(GATEHOUSE),
            KEY_LINE,
            "connections.tools.run_as",
            "is the broker's own account",
        ),
        ("run_as: nosuch", host(ROOT), KEY_LINE, "connections.tools.run_as", "no account 'nosuch'"),
        ("run_as: ops", host(ROOT), KEY_LINE, "connections.tools.run_as", "'ops' is in docker"),
        ("run_as: wheely", host(ROOT), KEY_LINE, "connections.tools.run_as", "is in gid 0"),
        (
            "run_as: gh-tools",
            host(GATEHOUSE),
            KEY_LINE,
            "connections.tools.run_as",
            "not root, so it cannot start a process as 'gh-tools'",
        ),
        (
            "run_as: gh-tools\n    accepts: everything",
            None,
            KEY_LINE + 1,
            "connections.tools.accepts",
            "none, shell or args",
        ),
        (
            "run_as: gh-tools\n    run_as_via: su",
            None,
            KEY_LINE + 1,
            "connections.tools.run_as_via",
            "setuid or sudo",
        ),
        (
            "run_as: gh-tools\n    unsafe_run_as_broker_user: true",
            None,
            KEY_LINE + 1,
            "connections.tools.unsafe_run_as_broker_user",
            "not both",
        ),
        (
            "unsafe_run_as_broker_user: true",
            host(ROOT),
            KEY_LINE,
            "connections.tools.unsafe_run_as_broker_user",
            "never runs as root",
        ),
        ("runas: gh-tools", None, KEY_LINE, "connections.tools.runas", "unknown key"),
    ],
)
def test_refused_with_file_line_key(
    tmp_path: Path, local: str, on: Host | None, line: int, key: str, message: str
) -> None:
    err = refused(tmp_path, local, on)
    assert err.key == key, err.render()
    assert message in err.message, err.render()
    assert err.line == line, err.render()
    assert err.render().startswith(f"{tmp_path / 'gatehouse.yaml'}:{line}: {key}: ")


def test_defaults_take_no_command(tmp_path: Path) -> None:
    _, conn = load(tmp_path, "run_as: gh-tools", host(ROOT))
    assert conn.local.run_as == "gh-tools"
    assert conn.local.accepts == "none"
    assert conn.local.run_as_via == "setuid"
    assert not conn.local.unsafe_run_as_broker_user


@pytest.mark.parametrize(
    ("local", "broker"),
    [
        ("run_as: gh-tools", ROOT),
        ("run_as: gh-tools\n    run_as_via: sudo", GATEHOUSE),
        ("unsafe_run_as_broker_user: true", GATEHOUSE),
        ("run_as: gh-tools\n    accepts: args", ROOT),
        ("run_as: gh-tools\n    accepts: shell", ROOT),
    ],
)
def test_accepted(tmp_path: Path, local: str, broker: Account) -> None:
    load(tmp_path, local, host(broker))


def test_demo_shell_is_unsafe_only_when_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    from broker.runtime import demo

    monkeypatch.setattr(demo.os, "geteuid", lambda: 1000)
    shell = demo._shell_connection()
    assert shell["unsafe_run_as_broker_user"] is True
    assert "run_as" not in shell
    assert "UNSAFE" in shell["description"]


def test_check_warns_about_the_unsafe_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from broker import cli

    monkeypatch.setattr(Host, "current", classmethod(lambda cls: host(GATEHOUSE)))
    path, _ = load(tmp_path, "unsafe_run_as_broker_user: true", host(GATEHOUSE))
    before = os.umask(0o022)
    try:
        assert cli.main(["check", "-c", str(path)]) == 0
        assert os.umask(0o022) == 0o022  # the command's owner-only umask does not leak out
    finally:
        os.umask(before)
    out = capsys.readouterr()
    assert out.out.startswith("ok: ")
    assert "UNSAFE: local connection 'tools' runs as the broker's own account" in out.err
