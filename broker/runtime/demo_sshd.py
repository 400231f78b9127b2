"""The demo's SSH target: a private OpenSSH ``sshd`` on loopback, as the person running the demo.

`gatehouse demo` starts it when an ``sshd`` binary is on the machine, so the tour's main case
(SSH pass-through with a pinned host key and a vault credential) can be tried without a
second machine. Everything it uses lives in ``DEMO_DIR/sshd``: its host key (pinned in the
demo config), its config, its log, its PID file and the authorized public half of the
credential whose private half is only in the vault. It listens on 127.0.0.1 only, accepts
only that key and only the person running the demo, and is stopped by PID with the demo.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from broker.common.errors import GatehouseError
from broker.vault.store import Vault

CREDENTIAL = "demo-ssh"
"""The vault entry holding the private key the broker logs in to the demo sshd with."""
SSHD_PATHS = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")
START_TIMEOUT = 10.0


@dataclass(frozen=True)
class DemoTarget:
    """A running demo sshd, as the demo config names it."""

    port: int
    """Its port on 127.0.0.1."""
    user: str
    """The account it lets in (the person running the demo)."""
    host_key: str
    """Its public host key line, pinned as the connection's ``host_key``."""
    pid: int
    """The listening sshd's process id (the demo stops it by this)."""


def find_sshd() -> str | None:
    """The sshd binary on this machine, or None."""
    for path in SSHD_PATHS:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("sshd")


def _key(path: Path, comment: str, notes: list[str], what: str) -> asyncssh.SSHKey:
    """Load the ed25519 key at ``path``, or generate and write it (0600); noted either way."""
    if path.exists():
        notes.append(f"reused {what}: {path}")
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.export_private_key())
    notes.append(f"generated {what}: {path}")
    return key


def _credential(vault: Vault, notes: list[str]) -> asyncssh.SSHKey:
    """The private key in the vault entry ``demo-ssh``, generated and stored if missing."""
    if vault.has(CREDENTIAL):
        notes.append(f"reused vault credential {CREDENTIAL!r}")
        return asyncssh.import_private_key(vault.get(CREDENTIAL).reveal())
    key = asyncssh.generate_private_key("ssh-ed25519", comment="gatehouse-demo-target")
    vault.set(CREDENTIAL, key.export_private_key())
    notes.append(
        f"generated a key pair and stored its private half as vault credential {CREDENTIAL!r}"
    )
    return key


def _config(directory: Path, port: int, user: str) -> str:
    lines = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {directory / 'ssh_host_ed25519_key'}",
        f"PidFile {directory / 'sshd.pid'}",
        f"AuthorizedKeysFile {directory / 'authorized_keys'}",
        f"AllowUsers {user}",
        "PermitRootLogin prohibit-password" if user == "root" else "PermitRootLogin no",
        # sshd's StrictModes would refuse a demo dir under /tmp (world-writable with the
        # sticky bit); the demo checks instead that its own sshd dir is 0700 and ours.
        "StrictModes no",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "AllowAgentForwarding no",
        "AllowTcpForwarding no",
        "X11Forwarding no",
        "PrintMotd no",
        "PrintLastLog no",
        "LogLevel INFO",
        "",
    ]
    return "\n".join(lines)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            return sock.recv(64).startswith(b"SSH-2.0-")
    except OSError:
        return False


def _stop_stale(directory: Path) -> None:
    """Stop an sshd a previous demo run left behind (killed before it could), by its PID file."""
    pid_file = directory / "sshd.pid"
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if str(directory / "sshd_config").encode() in cmdline:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    pid_file.unlink(missing_ok=True)


class DemoSshd:
    """Prepare, start and stop the demo's private sshd in ``directory``."""

    def __init__(self, sshd: str, directory: Path, vault: Vault) -> None:
        self.sshd = sshd
        self.directory = directory
        self.vault = vault
        self.notes: list[str] = []
        """What was reused and what was created, for the demo to say."""
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DemoTarget:
        """Keys, config, then ``sshd -D`` on a free loopback port, up within 10 s.

        Raises:
            GatehouseError: sshd refused its config or did not answer.
        """
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = self.directory.stat()
        if info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise GatehouseError(
                f"{self.directory} must be a directory only you can use (mode 0700, yours): "
                "the demo sshd's authorized key lives there"
            )
        _stop_stale(self.directory)
        user = getpass.getuser()
        host = _key(
            self.directory / "ssh_host_ed25519_key",
            "gatehouse-demo-sshd",
            self.notes,
            "demo sshd host key",
        )
        client = _credential(self.vault, self.notes)
        authorized = self.directory / "authorized_keys"
        authorized.write_bytes(client.export_public_key())
        authorized.chmod(0o600)
        config = self.directory / "sshd_config"
        for _ in range(3):  # another program may take the free port before sshd binds it
            port = _free_port()
            config.write_text(_config(self.directory, port, user), encoding="utf-8")
            checked = subprocess.run(  # fixed argv
                [self.sshd, "-t", "-f", str(config)], capture_output=True, check=False
            )
            if checked.returncode != 0:
                raise GatehouseError(
                    f"the demo sshd refused its config {config}: "
                    f"{checked.stderr.decode(errors='replace').strip()}"
                )
            if self._launch(config, port):
                host_line = host.export_public_key().decode().split()
                assert self._proc is not None
                self.notes.append(
                    f"started sshd (PID {self._proc.pid}) on 127.0.0.1:{port}, "
                    f"accepting only {user} with the vault key"
                )
                return DemoTarget(port, user, " ".join(host_line[:2]), self._proc.pid)
        raise GatehouseError(f"the demo sshd did not start; see {self.directory / 'sshd.log'}")

    def _launch(self, config: Path, port: int) -> bool:
        if os.geteuid() == 0:  # sshd run by root checks for its privilege separation dir
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with (self.directory / "sshd.log").open("ab") as log:
            self._proc = subprocess.Popen(  # fixed argv
                [self.sshd, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the demo's terminal is the demo's to handle
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return False
            if _answers(port):
                return True
            time.sleep(0.05)  # polling the port sshd is starting on, bounded by the deadline
        self.stop()
        return False

    def stop(self) -> None:
        """Stop the sshd this object started (by its PID) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
