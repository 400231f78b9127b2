"""The broker between a real OpenSSH client and a real sshd target: run, denials, host keys, vault."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.accounts import local_connection
from tests.harness.sshd import SshdTarget
from tests.support.broker import BrokerProcess, keygen

POLICY = """\
access:
  - {name: ops-all, groups: [ops], connections: ["*"], action: allow}
  - {name: no-prod-for-eng, groups: [engineers], connections: ["prod-*"], action: deny}
  - {name: eng-web, groups: [engineers], connections: ["web-*", shell], action: allow}
commands:
  - {name: no-rm-root, match: 'rm\\s+-rf\\s+/(\\s|$)', action: deny, connections: ["web-*"]}
interpreters: [sh, bash]  # python3 drives the binary data-path test below
masking:
  overrides:
    - {name: bulk-binary, connections: [web-key], binary: pass}
"""


@pytest.fixture(scope="module")
def broker(
    sshd_target: SshdTarget, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrokerProcess]:
    other = tmp_path_factory.mktemp("k") / "other_host"
    wrong_host_key = " ".join(keygen(other).split()[:2])
    base = {"type": "ssh", "host": "127.0.0.1", "port": sshd_target.port, "user": sshd_target.user}
    connections = {
        "web-key": {**base, "credential": "web-key", "host_key": sshd_target.host_key_line},
        "web-pw": {**base, "credential": "web-pw", "host_key": sshd_target.host_key_line},
        "web-badpw": {**base, "credential": "web-badpw", "host_key": sshd_target.host_key_line},
        "web-spoofed": {**base, "credential": "web-key", "host_key": wrong_host_key},
        "web-dead": {
            **base,
            "port": 1,
            "credential": "web-key",
            "host_key": sshd_target.host_key_line,
        },
        "prod-db": {**base, "credential": "web-key", "host_key": sshd_target.host_key_line},
        "shell": local_connection(["bash", "--norc"]),
    }
    proc = BrokerProcess(
        {"alice": ["engineers"], "olga": ["ops"], "ben": ["ops", "unmasked"], "nobody": []},
        connections,
        POLICY,
    )
    proc.set_secret("web-key", sshd_target.client_key.read_bytes())
    proc.set_secret("web-pw", sshd_target.password.encode() + b"\n")
    proc.set_secret("web-badpw", b"definitely-not-the-password-5c1e\n")
    with proc:
        yield proc


def test_run_streams_stdout_stderr_and_exit_status(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", "web-key", "--", "echo out; echo err >&2; exit 3")
    assert result.returncode == 3
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"


def test_run_with_password_credential(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", "web-pw", "--", "id -un")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == "gh-target"


def test_run_passes_stdin(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", "web-key", "--", "wc -c", stdin=b"x" * 100000)
    assert result.stdout.decode().strip() == "100000"


def test_run_bulk_output_is_complete(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", "web-key", "--", "head -c 20000000 /dev/zero")
    assert result.returncode == 0
    assert len(result.stdout) == 20_000_000


RANDOM_OUTPUT = """\
import random, sys
r = random.Random(7)
out, err = r.randbytes(3_000_000), r.randbytes(600_000)
for k in range(50):
    sys.stdout.buffer.write(out[k * 60000 : (k + 1) * 60000])
    sys.stdout.flush()
    sys.stderr.buffer.write(err[k * 12000 : (k + 1) * 12000])
    sys.stderr.flush()
"""


@pytest.mark.parametrize(
    "cipher", ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"]
)
def test_run_binary_output_is_exact_on_each_client_cipher(
    broker: BrokerProcess, cipher: str
) -> None:
    """Random bytes on stdout and stderr, unmasked (break-glass), through the broker's data path
    to a real OpenSSH client on each AEAD cipher (the broker's fast path, decision 010)."""
    argv = broker.ssh("ben", "run", "web-key", "--", f"python3 -c '{RANDOM_OUTPUT}'", tty=False)
    argv[1:1] = ["-c", cipher]
    result = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    rng = random.Random(7)
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout == rng.randbytes(3_000_000)
    assert result.stderr == rng.randbytes(600_000)
    assert "patch asyncssh AEAD fast path: active" in broker.log()


def test_local_connection_run(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", "shell", "--", "echo $((40+2)); exit 7")
    assert (result.returncode, result.stdout) == (7, b"42\n")


def test_denied_connection_names_rule(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", "prod-db", "--", "id")
    assert result.returncode == 1
    assert b"denied by rule 'no-prod-for-eng'" in result.stderr
    assert result.stdout == b""


def test_default_deny(broker: BrokerProcess) -> None:
    result = broker.run_ssh("nobody", "run", "web-key", "--", "id")
    assert result.returncode == 1
    assert b"denied by rule 'default-deny'" in result.stderr


def test_unknown_connection(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", "nowhere", "--", "id")
    assert result.returncode == 1
    assert b"unknown connection 'nowhere'" in result.stderr


def test_command_rule_denies(broker: BrokerProcess) -> None:
    result = broker.run_ssh("olga", "run", "web-key", "--", "rm -rf /")
    assert result.returncode == 1
    assert b"no-rm-root" in result.stderr


def test_changed_host_key_is_refused(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", "web-spoofed", "--", "id")
    assert result.returncode == 255
    assert b"host key does not match the pinned key" in result.stderr
    assert result.stdout == b""


def test_wrong_stored_password_is_a_clear_error(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", "web-badpw", "--", "id")
    assert result.returncode == 255
    assert b"refused the stored credential" in result.stderr
    assert b"definitely-not-the-password" not in result.stderr


def test_dead_target(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", "web-dead", "--", "id")
    assert result.returncode == 255
    assert b"cannot connect to 127.0.0.1:1" in result.stderr


def test_list_shows_only_allowed(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "list")
    names = [line.split("\t")[0] for line in result.stdout.decode().splitlines()]
    assert names == ["shell", "web-badpw", "web-dead", "web-key", "web-pw", "web-spoofed"]


def test_usage_error(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "frobnicate")
    assert result.returncode == 2
    assert b"unknown command 'frobnicate'" in result.stderr
    assert b"usage" in result.stderr


def test_no_pty_no_command_explains(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice")
    assert result.returncode == 2
    assert b"needs a terminal" in result.stderr


def test_unknown_user_and_wrong_key_refused(broker: BrokerProcess, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    keygen(stranger)
    argv = broker.ssh("alice", "list")
    argv[argv.index(str(broker.keys["alice"]))] = str(stranger)
    wrong_key = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    assert wrong_key.returncode == 255
    assert b"Permission denied" in wrong_key.stderr
    argv = broker.ssh("alice", "list")
    argv[argv.index("alice@127.0.0.1")] = "mallory@127.0.0.1"
    unknown = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    assert unknown.returncode == 255
    assert b"Permission denied" in unknown.stderr


def test_password_login_is_refused(broker: BrokerProcess) -> None:
    argv = broker.ssh("alice", "list")
    i = argv.index("-i")
    del argv[i : i + 2]
    argv[1:1] = [
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
    ]
    result = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    assert result.returncode == 255
    assert b"Permission denied" in result.stderr


def test_credentials_never_leak(broker: BrokerProcess, sshd_target: SshdTarget) -> None:
    """Everything the broker wrote or showed is free of the stored secrets."""
    outputs = [
        broker.run_ssh("alice", "run", "web-badpw", "--", "id"),
        broker.run_ssh("alice", "run", "web-pw", "--", "true"),
        broker.run_ssh("alice", "run", "web-key", "--", "true"),
    ]
    planted = [
        b"definitely-not-the-password-5c1e",
        sshd_target.password.encode(),
        b"".join(sshd_target.client_key.read_bytes().splitlines()[1:3]),
    ]
    seen = b"".join(r.stdout + r.stderr for r in outputs)
    for path in broker.dir.rglob("*"):
        if path.is_file() and "_ed25519" not in path.name:
            seen += path.read_bytes()
    for secret in planted:
        assert secret
        assert secret not in seen
