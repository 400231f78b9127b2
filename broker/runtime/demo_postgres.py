"""The demo's database: a private PostgreSQL cluster with a table of fake personal data.

`gatehouse demo` starts it when PostgreSQL's server binaries are on the machine (Debian and
Ubuntu: ``/usr/lib/postgresql/VERSION/bin``, package ``postgresql``), so that the first `sql`
shows masking on query results. Everything lives in ``DEMO_DIR/postgres`` (mode 0700): the data
directory, the log and the unix socket. The server listens on a free 127.0.0.1 port; its
superuser has no password and can only come in over that socket (``trust`` on a socket in a
directory only its owner can enter), and the demo's connection logs in over TCP as
``gatehouse_ro``, a role that may only read, with a random password kept in the vault
(credential ``demo-postgres``). It runs as the person running the demo; run as root (which
PostgreSQL refuses), as the demo's unprivileged account, and when that account cannot reach
the demo dir (a parent only root may enter), in a private directory under /tmp for that run.
It is stopped with the demo.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from broker.common.errors import GatehouseError
from broker.runtime.demo_data import customers_sql
from broker.vault.store import Vault

CREDENTIAL = "demo-postgres"
"""The vault entry holding the read-only role's password."""
DATABASE = "shop"
LOGIN = "gatehouse_ro"
ADMIN = "demo_admin"
NEEDED = ("initdb", "pg_ctl", "postgres", "psql")
HOW_TO_GET = (
    "no PostgreSQL server binaries on this machine, so the demo has no `db` connection; "
    "install them (Debian/Ubuntu: apt-get install postgresql) and start the demo again"
)


@dataclass(frozen=True)
class DemoDatabase:
    """A running demo cluster, as the demo config names it."""

    port: int
    """Its port on 127.0.0.1."""
    pid: int
    """The postmaster's process id."""


def find_pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` with the server binaries, or the directory of
    ``pg_ctl`` on PATH if it holds them; None when there are none."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parent.name.split(".")],
        reverse=True,
    )
    for path in map(Path, candidates):
        if all(os.access(path / name, os.X_OK) for name in NEEDED):
            return path
    return None


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reachable(directory: Path, account: str) -> bool:
    """Whether ``account`` may enter every existing parent of ``directory``."""
    entry = pwd.getpwnam(account)
    for parent in directory.resolve().parents:
        try:
            info = parent.stat()
        except OSError:
            return False
        if info.st_uid == entry.pw_uid:
            bit = 0o100
        elif info.st_gid == entry.pw_gid:
            bit = 0o010
        else:
            bit = 0o001
        if not info.st_mode & bit:
            return False
    return True


class DemoPostgres:
    """Prepare, start and stop the demo's cluster in ``directory`` (run as ``account`` if
    given: the demo's own account when it runs as root)."""

    def __init__(self, bin_dir: Path, directory: Path, vault: Vault, account: str | None) -> None:
        self.bin = bin_dir
        self.directory = directory
        self.vault = vault
        self.account = account
        self.notes: list[str] = []
        self._started = False
        self._temporary = False

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def _run(self, *argv: str, stdin: str = "", timeout: float = 60) -> str:
        try:
            done = subprocess.run(  # fixed argv
                [str(self.bin / argv[0]), *argv[1:]],
                input=stdin.encode(),
                capture_output=True,
                timeout=timeout,
                check=False,
                user=self.account,
                cwd=self.directory,
                env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "PGTZ": "UTC"},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GatehouseError(f"the demo database: {argv[0]} failed: {exc}") from None
        if done.returncode != 0:
            why = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise GatehouseError(f"the demo database: {argv[0]} failed: {' '.join(why)}")
        return done.stdout.decode(errors="replace")

    def _prepare_dir(self) -> None:
        if self.account is not None and not _reachable(self.directory, self.account):
            self.directory = Path(tempfile.mkdtemp(prefix="gatehouse-demo-pg-"))
            self._temporary = True
            self.notes.append(
                f"{self.account} cannot reach the demo dir: the database lives in "
                f"{self.directory} for this run"
            )
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.account is not None:
            entry = pwd.getpwnam(self.account)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        info = self.directory.stat()
        owner = pwd.getpwnam(self.account).pw_uid if self.account else os.geteuid()
        if info.st_uid != owner or info.st_mode & 0o077:
            raise GatehouseError(f"{self.directory} must be mode 0700 and owned by its server")

    def start(self) -> DemoDatabase:
        """initdb (once), start on a free port, load the table and the read-only role.

        Raises:
            GatehouseError: a step failed (the message says which, from the tool's stderr).
        """
        self._prepare_dir()
        if (self.data / "PG_VERSION").exists():
            self.notes.append(f"reused the demo database cluster: {self.data}")
            self._stop_stale()
        else:
            self._run(
                "initdb",
                "-D",
                str(self.data),
                f"--username={ADMIN}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            )
            self.notes.append(f"created a demo database cluster: {self.data}")
        for _ in range(3):  # another program may take the free port first
            port = _free_port()
            try:
                self._pg_ctl_start(port)
            except GatehouseError:
                continue
            self._started = True
            try:
                self._load(port)
            except BaseException:
                self.stop()
                raise
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            self.notes.append(
                f"started PostgreSQL (PID {pid}) on 127.0.0.1:{port}: database {DATABASE}, "
                f"table customers (fake personal data), read-only login {LOGIN}"
            )
            return DemoDatabase(port, pid)
        raise GatehouseError(f"the demo database did not start; see {self.directory / 'log'}")

    def _pg_ctl_start(self, port: int) -> None:
        options = (
            f"-c port={port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.directory} -c fsync=off"
        )
        self._run(
            "pg_ctl",
            *("-D", str(self.data), "-l", str(self.directory / "log"), "-o", options),
            *("-w", "-t", "30", "start"),
        )

    def _stop_stale(self) -> None:
        """Stop a server a previous demo run left behind (killed before it could stop it)."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(GatehouseError):  # not running: the file goes at start
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _password(self) -> str:
        if self.vault.has(CREDENTIAL):
            self.notes.append(f"reused vault credential {CREDENTIAL!r}")
            return self.vault.get(CREDENTIAL).reveal_text()
        password = secrets.token_urlsafe(24)
        self.vault.set(CREDENTIAL, password.encode())
        self.notes.append(f"made a password for {LOGIN} and stored it as vault credential")
        return password

    def _load(self, port: int) -> None:
        password = self._password()
        setup = (
            f"SELECT 'CREATE DATABASE {DATABASE}' "  # noqa: S608
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{DATABASE}')\\gexec\n"
            f"SELECT 'CREATE ROLE {LOGIN} LOGIN' "
            f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{LOGIN}')\\gexec\n"
            f"ALTER ROLE {LOGIN} PASSWORD '{password}';\n"
            f"ALTER ROLE {LOGIN} SET default_transaction_read_only = on;\n"
            f"\\connect {DATABASE}\n" + customers_sql() + f"GRANT SELECT ON customers TO {LOGIN};\n"
        )
        self._run(
            "psql",
            *("-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.directory)),
            *("-p", str(port), "-U", ADMIN, "-d", "postgres", "-f", "-"),
            stdin=setup,
        )

    def stop(self) -> None:
        """Stop the server this object started (``pg_ctl stop -m fast``)."""
        if self._started:
            self._started = False
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "20", "stop")
            except GatehouseError as exc:
                self.notes.append(str(exc))
        if self._temporary:
            shutil.rmtree(self.directory, ignore_errors=True)
