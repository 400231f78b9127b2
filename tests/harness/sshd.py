"""A private OpenSSH ``sshd`` on 127.0.0.1 with its own config, host key and system test user."""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from tests.harness.process import (
    LOOPBACK,
    HarnessError,
    descendants,
    free_port,
    kill_and_reap,
    kill_pids,
    log_tail,
    run,
    wait_until,
)

SSHD = "/usr/sbin/sshd"
DEFAULT_USER = "gh-target"
# The test user's password is random but shared by concurrent test runs on one machine, so that
# one run's chpasswd never invalidates another's: it lives in a root-only file.
PASSWORD_DIR = Path("/var/lib/gatehouse-tests")
CLIENT_OPTIONS = (
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "KexAlgorithms=curve25519-sha256",
    "-o",
    "LogLevel=ERROR",
)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def ensure_user(name: str = DEFAULT_USER) -> str:
    """Create the system test user if missing and give it a known random password.

    Args:
        name: Login name (bash shell, a home directory).

    Returns:
        The user's password.

    Raises:
        HarnessError: Not root, or useradd/chpasswd failed.
    """
    if os.geteuid() != 0:
        raise HarnessError("the sshd target needs root to create its system test user")
    if not _user_exists(name):
        try:
            run(["useradd", "--create-home", "--shell", "/bin/bash", name])
        except HarnessError:
            if not _user_exists(name):  # else another test run created it a moment before us
                raise
    PASSWORD_DIR.mkdir(mode=0o700, exist_ok=True)
    secret_file = PASSWORD_DIR / f"{name}.password"
    with contextlib.suppress(FileExistsError):
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(18))
    password = wait_until(
        lambda: secret_file.read_text().strip() or None, timeout=5, what=f"{secret_file}"
    )
    run(["chpasswd"], input_text=f"{name}:{password}\n")
    home = Path(pwd.getpwnam(name).pw_dir)
    if not home.is_dir():
        raise HarnessError(f"home directory {home} of {name} is missing")
    return password


class SshdTarget:
    """Our own ``sshd -D`` on a free loopback port, accepting one system user by key or password.

    Attributes:
        user: The login name.
        password: The user's password.
        port: The listening port (set by ``start``).
        client_key: Path of the authorized ed25519 private key (no passphrase).
        host_key_line: ``"ssh-ed25519 AAAA…"``, the server's public host key.
        startup_seconds: How long ``start`` took.
    """

    def __init__(self, user: str = DEFAULT_USER) -> None:
        self.user = user
        self.password = ""
        self.port = 0
        self.workdir = Path()
        self.client_key = Path()
        self.host_key_line = ""
        self.startup_seconds = 0.0
        self._tag = secrets.token_hex(4)
        self._proc: subprocess.Popen[bytes] | None = None
        self._home_files: list[Path] = []

    @property
    def home(self) -> Path:
        """The test user's home directory."""
        return Path(pwd.getpwnam(self.user).pw_dir)

    @property
    def log_path(self) -> Path:
        """The sshd log (``-e`` output) in the work dir."""
        return self.workdir / "sshd.log"

    def connection(self, credential: str = "web") -> dict[str, object]:
        """A broker ``type: ssh`` connection to this target, its key stored as ``credential``."""
        return {
            "type": "ssh",
            "host": LOOPBACK,
            "port": self.port,
            "user": self.user,
            "credential": credential,
            "host_key": self.host_key_line,
        }

    @property
    def known_hosts_line(self) -> str:
        """A known_hosts line pinning the host key for ``[127.0.0.1]:PORT``."""
        return f"[{LOOPBACK}]:{self.port} {self.host_key_line}"

    def start(self) -> SshdTarget:
        """Create keys, config and user, start sshd and wait for its SSH banner.

        Returns:
            ``self``, started.

        Raises:
            HarnessError: The config is invalid or sshd did not come up within 10 s.
        """
        began = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _start(self) -> None:
        self.password = ensure_user(self.user)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix="gh-sshd-"))
        host_key = self.workdir / "ssh_host_ed25519_key"
        self.client_key = self.workdir / "client_ed25519"
        for key, comment in (
            (host_key, "gatehouse-test-host"),
            (self.client_key, "gatehouse-test"),
        ):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)])
        self.host_key_line = " ".join(host_key.with_suffix(".pub").read_text().split()[:2])
        client_pub = self.client_key.with_name("client_ed25519.pub").read_text()
        self.write_home_file(f".ssh/authorized_keys.{self._tag}", client_pub, mode=0o600)
        for attempt in range(3):
            self.port = free_port()
            config = self._write_config(host_key)
            run([SSHD, "-t", "-f", str(config)])
            if self._launch(config):
                break
            if attempt == 2:
                raise HarnessError(f"sshd did not start\n{log_tail(self.log_path)}")

    def _write_config(self, host_key: Path) -> Path:
        config = self.workdir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    f"ListenAddress {LOOPBACK}",
                    f"HostKey {host_key}",
                    f"PidFile {self.workdir / 'sshd.pid'}",
                    "UsePAM no",
                    f"AllowUsers {self.user}",
                    "PermitRootLogin no",
                    "PubkeyAuthentication yes",
                    f"AuthorizedKeysFile .ssh/authorized_keys.{self._tag}",
                    "PasswordAuthentication yes",
                    "KbdInteractiveAuthentication no",
                    "AcceptEnv TERM LANG LC_*",
                    "PrintMotd no",
                    "PrintLastLog no",
                    "MaxStartups 200:30:400",
                    "MaxSessions 100",
                    "LogLevel VERBOSE",
                    "Subsystem sftp internal-sftp",
                    "",
                ]
            )
        )
        return config

    def _launch(self, config: Path) -> bool:
        log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        proc = self._proc

        def banner() -> bool | None:
            if proc.poll() is not None:
                return False
            return True if _reads_banner(self.port) else None

        up = wait_until(
            banner, timeout=10, what="sshd banner", detail=lambda: log_tail(self.log_path)
        )
        if not up:
            proc.wait(timeout=5)
            self._proc = None
        return up

    def stop(self) -> None:
        """Stop sshd and its session processes by PID, remove planted files and the work dir."""
        if self._proc is not None:
            sessions = descendants(self._proc.pid)
            kill_and_reap(self._proc)
            kill_pids(sessions)
            self._proc = None
        for path in self._home_files:
            path.unlink(missing_ok=True)
        self._home_files.clear()
        if self.workdir != Path() and self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)

    def write_home_file(self, relative: str, content: str | bytes, *, mode: int = 0o644) -> Path:
        """Write a file under the test user's home, owned by the user; removed on ``stop``.

        Args:
            relative: Path relative to the home directory (parents are created, owned by the user).
            content: Text (UTF-8) or bytes.
            mode: File permission bits.

        Returns:
            The absolute path of the file.
        """
        entry = pwd.getpwnam(self.user)
        home = Path(entry.pw_dir)
        target = home / relative
        if home.resolve() not in target.resolve().parents:
            raise HarnessError(f"{relative!r} is outside {home}")
        directory = target.parent
        missing = [
            p for p in (directory, *directory.parents) if home in p.parents and not p.exists()
        ]
        for path in reversed(missing):
            path.mkdir(mode=0o700)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        data = content.encode() if isinstance(content, str) else content
        target.write_bytes(data)
        os.chown(target, entry.pw_uid, entry.pw_gid)
        target.chmod(mode)
        self._home_files.append(target)
        return target

    def ssh_argv(
        self,
        *remote_args: str,
        tty: bool = False,
        use_key: bool = True,
        options: Sequence[str] = (),
    ) -> list[str]:
        """Build a direct OpenSSH client command line to this target.

        Args:
            *remote_args: The remote command, if any.
            tty: Force a pty (``-tt``).
            use_key: Authenticate with ``client_key`` in batch mode; ``False`` allows only
                password authentication (drive it with ``askpass_env``).
            options: Extra client arguments placed before the destination.

        Returns:
            The argv list.
        """
        argv = ["ssh", *CLIENT_OPTIONS]
        if use_key:
            argv += ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", str(self.client_key)]
        else:
            argv += ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password"]
            argv += ["-o", "NumberOfPasswordPrompts=1"]
        if tty:
            argv.append("-tt")
        argv += [*options, "-p", str(self.port), f"{self.user}@{LOOPBACK}", *remote_args]
        return argv

    def __enter__(self) -> SshdTarget:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _reads_banner(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
            return sock.recv(64).startswith(b"SSH-2.0-")
    except OSError:
        return False
