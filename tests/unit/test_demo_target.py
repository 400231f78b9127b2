"""The demo's sshd when it cannot be had: no binary, a binary that refuses, an unsafe dir;
the demo then says why it has no `ssh` connection and serves `shell` alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.common.errors import GatehouseError
from broker.config.state import StatePaths
from broker.runtime import demo
from broker.runtime.demo_sshd import CREDENTIAL, DemoSshd
from broker.runtime.provision import ensure_keys


def vault(tmp_path: Path) -> StatePaths:
    paths = StatePaths(tmp_path / "state")
    ensure_keys(paths)
    return paths


def test_no_sshd_binary_no_ssh_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "find_sshd", lambda: None)
    server, target, notes = demo._start_target(tmp_path)
    assert (server, target) == (None, None)
    assert notes == ["no sshd binary on this machine: the demo has no `ssh` connection"]


def test_an_sshd_that_refuses_its_config_leaves_shell_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault(tmp_path)
    monkeypatch.setattr(demo, "find_sshd", lambda: "/bin/false")
    server, target, notes = demo._start_target(tmp_path)
    assert (server, target) == (None, None)
    assert notes[-1].startswith("no `ssh` connection: the demo sshd refused its config")
    assert any(f"vault credential {CREDENTIAL!r}" in note for note in notes)


def test_a_shared_sshd_dir_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "sshd"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    server = DemoSshd("/bin/false", shared, vault(tmp_path).vault())
    with pytest.raises(GatehouseError, match="mode 0700, yours"):
        server.start()
    assert not (shared / "authorized_keys").exists()
