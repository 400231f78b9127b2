"""The private sshd target accepts its key and password, and nothing else."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

import asyncssh
import pytest

from tests.harness import HarnessError, SshdTarget, askpass_env, ssh_client_argv
from tests.harness.process import pid_alive, port_accepts


def ssh(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=15, env=env, stdin=subprocess.DEVNULL
    )


def test_key_login_runs_a_command(sshd_target: SshdTarget) -> None:
    result = ssh(sshd_target.ssh_argv("echo", "key-ok", "$(id -un)"))
    assert (result.returncode, result.stdout) == (0, f"key-ok {sshd_target.user}\n")


def test_password_login_through_askpass(sshd_target: SshdTarget, tmp_path: Path) -> None:
    env = askpass_env(sshd_target.password, tmp_path)
    result = ssh(sshd_target.ssh_argv("echo password-ok", use_key=False), env=env)
    assert (result.returncode, result.stdout) == (0, "password-ok\n")


def test_wrong_password_is_refused(sshd_target: SshdTarget, tmp_path: Path) -> None:
    env = askpass_env(sshd_target.password + "x", tmp_path)
    result = ssh(sshd_target.ssh_argv("echo nope", use_key=False), env=env)
    assert result.returncode == 255
    assert "Permission denied" in result.stderr
    assert "nope" not in result.stdout


def test_other_users_are_not_allowed(sshd_target: SshdTarget) -> None:
    argv = sshd_target.ssh_argv("echo nope")
    argv[argv.index(f"{sshd_target.user}@127.0.0.1")] = "root@127.0.0.1"
    result = ssh(argv)
    assert result.returncode == 255
    assert "Permission denied" in result.stderr


def test_unknown_key_is_refused(sshd_target: SshdTarget, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    result = ssh(ssh_client_argv(sshd_target.port, sshd_target.user, other, "echo nope", tty=False))
    assert result.returncode == 255
    assert "Permission denied" in result.stderr


def pinned_argv(target: SshdTarget, known_hosts: Path, command: str) -> list[str]:
    return [
        "ssh", "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "BatchMode=yes", "-i", str(target.client_key), "-p", str(target.port),
        f"{target.user}@127.0.0.1", command,
    ]  # fmt: skip


def test_pinned_host_key_is_the_one_served(sshd_target: SshdTarget, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(sshd_target.known_hosts_line + "\n")
    assert sshd_target.host_key_line.startswith("ssh-ed25519 AAAA")
    assert ssh(pinned_argv(sshd_target, known, "echo pinned")).stdout == "pinned\n"


def test_wrong_pinned_host_key_is_refused(sshd_target: SshdTarget, tmp_path: Path) -> None:
    other = tmp_path / "hostkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    fake = " ".join(Path(f"{other}.pub").read_text().split()[:2])
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd_target.port} {fake}\n")
    result = ssh(pinned_argv(sshd_target, known, "echo nope"))
    assert result.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in result.stderr


def test_tty_and_accepted_environment(sshd_target: SshdTarget) -> None:
    argv = sshd_target.ssh_argv("tty; echo lang=$LANG", tty=True, options=["-o", "SetEnv=LANG=C"])
    result = ssh(argv)
    assert result.returncode == 0
    assert "/dev/pts/" in result.stdout
    assert "lang=C" in result.stdout.splitlines()


def test_planted_home_file_is_owned_by_the_user(sshd_target: SshdTarget) -> None:
    path = sshd_target.write_home_file("planted/secrets.txt", "AKIAIOSFODNN7EXAMPLE\n", mode=0o600)
    owner = pwd.getpwuid(path.stat().st_uid).pw_name
    assert (owner, path.stat().st_mode & 0o777) == (sshd_target.user, 0o600)
    assert ssh(sshd_target.ssh_argv("cat planted/secrets.txt")).stdout == "AKIAIOSFODNN7EXAMPLE\n"


@pytest.mark.parametrize("relative", ["../escape.txt", "/etc/gh-escape", "a/../../escape"])
def test_home_file_outside_home_is_rejected(sshd_target: SshdTarget, relative: str) -> None:
    with pytest.raises(HarnessError, match="outside"):
        sshd_target.write_home_file(relative, "x")


def test_stop_frees_the_port_and_removes_everything() -> None:
    target = SshdTarget().start()
    port, workdir, pid = target.port, target.workdir, target._proc.pid if target._proc else 0
    planted = target.write_home_file("gone-after-stop.txt", "x")
    key_file = target.home / f".ssh/authorized_keys.{target._tag}"
    assert port_accepts(port)
    assert key_file.exists()
    target.stop()
    assert not port_accepts(port)
    assert not pid_alive(pid)
    assert not workdir.exists()
    assert not planted.exists()
    assert not key_file.exists()
    assert os.path.exists("/run/sshd")


def test_two_targets_side_by_side_keep_their_keys_apart(sshd_target: SshdTarget) -> None:
    with SshdTarget() as second:
        assert second.port != sshd_target.port
        assert second.password == sshd_target.password
        assert ssh(second.ssh_argv("echo second")).stdout == "second\n"
        crossed = ssh_client_argv(
            second.port, second.user, sshd_target.client_key, "echo nope", tty=False
        )
        result = ssh(crossed)
        assert result.returncode == 255
        assert "Permission denied" in result.stderr
    assert ssh(sshd_target.ssh_argv("echo first")).stdout == "first\n"


async def test_asyncssh_client_with_pinned_host_key(sshd_target: SshdTarget) -> None:
    known = asyncssh.import_known_hosts(sshd_target.known_hosts_line + "\n")
    async with asyncssh.connect(
        "127.0.0.1",
        sshd_target.port,
        username=sshd_target.user,
        client_keys=[str(sshd_target.client_key)],
        known_hosts=known,
        login_timeout=10,
    ) as conn:
        result = await conn.run("echo via-key", check=True, timeout=10)
    assert result.stdout == "via-key\n"


async def test_asyncssh_password_login(sshd_target: SshdTarget) -> None:
    async with asyncssh.connect(
        "127.0.0.1",
        sshd_target.port,
        username=sshd_target.user,
        password=sshd_target.password,
        client_keys=None,
        known_hosts=None,
        login_timeout=10,
    ) as conn:
        result = await conn.run("echo via-password", check=True, timeout=10)
    assert result.stdout == "via-password\n"


async def test_asyncssh_refuses_another_host_key(sshd_target: SshdTarget) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    known = asyncssh.import_known_hosts(f"[127.0.0.1]:{sshd_target.port} {other}\n")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await asyncssh.connect(
            "127.0.0.1",
            sshd_target.port,
            username=sshd_target.user,
            client_keys=[str(sshd_target.client_key)],
            known_hosts=known,
            login_timeout=10,
        )
