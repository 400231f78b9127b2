"""An engineer with a local connection tries every way we know to read the broker's keys; all fail.

The broker runs as root (as in CI); its local connections run as the unprivileged test account.
Every attack goes through a real broker and the real OpenSSH client, as `run` and as a terminal.
"""

from __future__ import annotations

import base64
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.accounts import LOCAL_ACCOUNT, ensure_local_account, local_connection
from tests.harness.pty_client import PtyClient
from tests.support.broker import BrokerProcess, keygen

POLICY = """\
access:
  - {name: eng, groups: [engineers], connections: ["*"], action: allow}
"""
ENV_MARKER = "brokerenvmark5521"
"""A value only the broker's own environment holds."""
KEY_NAMES = ("vault.key", "audit_ed25519", "masking.key", "ssh_host_ed25519")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    ensure_local_account()
    other = tmp_path_factory.mktemp("keys") / "web"
    host_key = " ".join(keygen(other).split()[:2])
    connections = {
        "sh": local_connection(["bash", "--norc"], accepts="shell"),
        "logs": local_connection(["printf", "%s\\n", "app.log"], accepts="none"),
        "logs-args": local_connection(["printf", "%s\\n", "app.log"], accepts="args"),
        "web-x": {
            "type": "ssh",
            "host": "127.0.0.1",
            "port": 1,
            "user": "deploy",
            "credential": "web-x",
            "host_key": host_key,
        },
    }
    proc = BrokerProcess(
        {"alice": ["engineers"]},
        connections,
        POLICY,
        env={"GH_BROKER_MARK": ENV_MARKER},
    )
    proc.set_secret("web-x", b"vault-held-password-7781")
    with proc:
        yield proc


def state(broker: BrokerProcess) -> Path:
    return broker.dir / "state"


def secrets(broker: BrokerProcess) -> list[bytes]:
    """Each key file's bytes, and the forms a reader would print them in."""
    found = [ENV_MARKER.encode(), b"vault-held-password-7781"]
    for name in KEY_NAMES:
        raw = (state(broker) / "keys" / name).read_bytes()
        found += [raw, raw.hex().encode(), base64.b64encode(raw)]
        if name == "vault.key" or name == "masking.key":
            found.append(raw[:16].hex(" ").encode())  # xxd/od-like spacing
    return found


def run(broker: BrokerProcess, conn: str, command: str) -> tuple[int, bytes]:
    result = broker.run_ssh("alice", "run", conn, "--", command, timeout=60)
    return result.returncode, result.stdout + result.stderr


def assert_no_secret(broker: BrokerProcess, output: bytes) -> None:
    for secret in secrets(broker):
        assert secret not in output, f"a broker secret leaked: {output[:400]!r}"


ATTACKS: list[tuple[str, Callable[[Path, int], str]]] = [
    ("cat", lambda s, _: f"cat {s}/keys/vault.key {s}/keys/audit_ed25519 {s}/keys/masking.key"),
    ("xxd-like", lambda s, _: f"od -An -tx1 {s}/keys/masking.key"),
    ("python open", lambda s, _: f"python3 -c \"print(open('{s}/keys/vault.key','rb').read())\""),
    ("list keys", lambda s, _: f"ls -la {s}/keys {s}"),
    ("find state", lambda s, _: f"find {s} -type f -exec cat {{}} +"),
    ("vault entry", lambda s, _: f"cat {s}/vault/*"),
    ("recordings", lambda s, _: f"cat {s}/recordings/* {s}/recordings/*/*"),
    ("audit log", lambda s, _: f"cat {s}/audit/*"),
    (
        "dot-dot",
        lambda s, _: f"cd /tmp && cat ..{s}/keys/vault.key ../{s}/../state/keys/masking.key",
    ),
    (
        "symlink",
        lambda s, _: (
            f"d=$(mktemp -d); ln -s {s}/keys $d/k; ln -s {s}/keys/vault.key $d/v; "
            f"cat $d/v $d/k/masking.key; rm -rf $d"
        ),
    ),
    ("hard link", lambda s, _: f"d=$(mktemp -d); ln {s}/keys/vault.key $d/v; cat $d/v; rm -rf $d"),
    ("environ", lambda _, p: f"cat /proc/{p}/environ; tr '\\0' '\\n' < /proc/$PPID/environ"),
    ("every environ", lambda *_: "for p in /proc/[0-9]*; do cat $p/environ; done 2>/dev/null"),
    ("fds", lambda _, p: f"ls -l /proc/{p}/fd/; cat /proc/{p}/fd/*"),
    ("inherited fds", lambda *_: "ls -l /proc/self/fd/ /proc/$$/fd/; cat /proc/$$/fd/[3-9]*"),
    ("cwd and root", lambda s, p: f"ls /proc/{p}/cwd/; cat /proc/{p}/root{s}/keys/vault.key"),
    (
        "mem",
        lambda _, p: (
            'python3 -c "import re,sys\n'
            f"maps=open('/proc/{p}/maps').read()\n"
            f"m=open('/proc/{p}/mem','rb')\n"
            "for line in maps.splitlines():\n"
            "    a,b=(int(x,16) for x in line.split()[0].split('-'))\n"
            '    m.seek(a); sys.stdout.buffer.write(m.read(min(b-a,1<<20)))"'
        ),
    ),
    (
        "ptrace",
        lambda _, p: (
            'python3 -c "import ctypes; c=ctypes.CDLL(None, use_errno=True); '
            f"print('attach', c.ptrace(16, {p}, 0, 0))\""
        ),
    ),
    ("setuid back", lambda *_: "python3 -c 'import os; os.setuid(0); print(\"uid0\")'"),
    ("su", lambda s, _: f"su -c 'cat {s}/keys/vault.key' root </dev/null"),
]


@pytest.mark.parametrize(("name", "attack"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_run_cannot_read_broker_secrets(
    broker: BrokerProcess, name: str, attack: Callable[[Path, int], str]
) -> None:
    assert broker.proc is not None
    status, output = run(broker, "sh", attack(state(broker), broker.proc.pid))
    assert_no_secret(broker, output)
    assert b"uid0" not in output
    if name == "inherited fds":
        assert b"/state" not in output, output
        assert b"gh-broker-" not in output, output
    if name == "ptrace":
        assert b"attach -1" in output, output
    if name in ("cat", "python open", "dot-dot", "vault entry", "environ", "mem"):
        assert status != 0, output
        assert b"Permission denied" in output or b"PermissionError" in output, output


def test_local_process_runs_as_its_account(broker: BrokerProcess) -> None:
    account = pwd.getpwnam(LOCAL_ACCOUNT)
    status, output = run(
        broker,
        "sh",
        "python3 -c 'import os; print(os.getresuid(), os.getresgid(), sorted(os.getgroups()))'; "
        "grep -E '^(Cap(Prm|Eff)|NoNewPrivs)' /proc/self/status; pwd; env",
    )
    assert status == 0, output
    text = output.decode()
    uid, gid = account.pw_uid, account.pw_gid
    assert f"({uid}, {uid}, {uid}) ({gid}, {gid}, {gid}) [{gid}]" in text
    assert re.search(r"^CapPrm:\s+0+$", text, re.M)
    assert re.search(r"^CapEff:\s+0+$", text, re.M)
    assert re.search(r"^NoNewPrivs:\s+1$", text, re.M)  # su, sudo and the like gain nothing
    env = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert env["USER"] == env["LOGNAME"] == LOCAL_ACCOUNT
    assert env["HOME"] == account.pw_dir
    assert env["SHELL"] == account.pw_shell
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert ENV_MARKER not in text
    assert "PYTHONUNBUFFERED" not in env
    assert "GH_BROKER_MARK" not in env
    cwd = text.splitlines()[4]
    home_ok = os.path.isdir(account.pw_dir) and os.stat(account.pw_dir).st_uid == uid
    assert cwd == (account.pw_dir if home_ok else "/")
    assert str(broker.dir) not in cwd


def test_terminal_session_cannot_read_broker_secrets(
    broker: BrokerProcess, pty_client: Callable[..., PtyClient]
) -> None:
    s = state(broker)
    client = pty_client(broker.ssh("alice", "connect", "sh", tty=True))
    client.send_text("id -un; echo ready-$((6*7))\n")
    client.wait_for(re.compile(r"^ready-42", re.M), timeout=30)
    client.send_text(f"cat {s}/keys/vault.key {s}/keys/masking.key; echo done-$((7*6))\n")
    screen = client.wait_for(re.compile(r"^done-42", re.M), timeout=30)
    assert LOCAL_ACCOUNT in screen
    assert screen.count("Permission denied") >= 2, screen
    client.send_text("exit\n")
    assert_no_secret(broker, client.raw_output())


def test_run_on_a_connection_that_takes_no_command_is_refused(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", "logs", "--", "/etc/hostname")
    assert result.returncode == 1
    assert result.stdout == b""
    assert b"connection 'logs' takes no command" in result.stderr
    tail = broker.cli("audit", "tail").stdout.decode()
    failed = [ln for ln in tail.splitlines() if "session.failed" in ln and " logs " in ln]
    assert failed, tail
    assert "takes no command" in failed[-1]


def test_args_connection_gets_words_never_dash_c(broker: BrokerProcess) -> None:
    status, output = run(broker, "logs-args", "/etc/hostname 'two words' '$(id)'")
    assert status == 0, output
    assert output == b"app.log\n/etc/hostname\ntwo words\n$(id)\n"
    status, output = run(broker, "logs-args", "'unclosed")
    assert status == 1
    assert b"cannot be split" in output


def test_state_is_owner_only(broker: BrokerProcess) -> None:
    run(broker, "sh", "echo recorded")  # a recording and audit records exist
    loose = []
    for here, dirs, files in os.walk(state(broker)):
        for name in [".", *dirs, *files]:
            path = Path(here) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                continue
            limit = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
            if stat.S_IMODE(st.st_mode) & ~limit:
                loose.append(f"{path} {stat.S_IMODE(st.st_mode):o}")
    assert loose == []


def test_a_setuid_root_program_gives_nothing_back(broker: BrokerProcess) -> None:
    """Even a set-user-ID root program left lying around does not make the child root."""
    where = Path(tempfile.mkdtemp(prefix="gh-suid-", dir="/tmp"))
    try:
        where.chmod(0o755)
        planted = where / "id"
        shutil.copy2("/usr/bin/id", planted)
        planted.chmod(0o4755)
        direct = subprocess.run(
            ["runuser", "-u", LOCAL_ACCOUNT, "--", str(planted), "-u"],
            capture_output=True,
            check=False,
        )
        if direct.stdout.strip() != b"0":
            pytest.skip(f"{where} does not honour set-user-ID bits (mounted nosuid?)")
        status, output = run(broker, "sh", f"{planted} -u")
        assert status == 0, output
        assert output.strip() == str(pwd.getpwnam(LOCAL_ACCOUNT).pw_uid).encode()
    finally:
        shutil.rmtree(where)
