"""A private PostgreSQL 15 cluster on 127.0.0.1 with a ``shop`` database full of fake PII."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.harness.pii import Customer, Order, fake_customers, fake_orders, shop_schema_sql
from tests.harness.process import (
    LOOPBACK,
    HarnessError,
    free_port,
    log_tail,
    pid_alive,
    port_accepts,
    run,
    wait_until,
)

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"


def as_postgres(*argv: str) -> list[str]:
    """Prefix a command so that it runs as the ``postgres`` system user."""
    return ["runuser", "-u", PG_USER, "--", *argv]


class PostgresServer:
    """``initdb`` + ``pg_ctl`` in a temp dir, password auth on 127.0.0.1, role ``app``, db ``shop``.

    Attributes:
        host: ``127.0.0.1``.
        port: The listening port (set by ``start``).
        user: The application role, ``app``.
        password: The role's random password.
        database: ``shop``.
        customers: The rows loaded into ``customers``.
        orders: The rows loaded into ``orders``.
        startup_seconds: How long ``start`` took (initdb, start, load).
    """

    def __init__(self, *, customers: int = 25) -> None:
        self.host = LOOPBACK
        self.port = 0
        self.user = "app"
        self.password = secrets.token_urlsafe(18)
        self.database = "shop"
        self.customers: tuple[Customer, ...] = fake_customers(customers)
        self.orders: tuple[Order, ...] = fake_orders(self.customers)
        self.workdir = Path()
        self.startup_seconds = 0.0
        self._pid = 0

    def connection(self, credential: str = "shop", *, read_only: bool = False) -> dict[str, object]:
        """A broker ``type: postgres`` connection to this server as ``app``, its password stored
        as ``credential`` (``BrokerProcess.set_secret``)."""
        conn: dict[str, object] = {
            "type": "postgres",
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "database": self.database,
            "credential": credential,
        }
        if read_only:
            conn["read_only"] = True
        return conn

    @property
    def dsn(self) -> str:
        """``postgresql://app:PASSWORD@127.0.0.1:PORT/shop``."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        """The server log written by ``pg_ctl -l``."""
        return self.workdir / "postgres.log"

    @property
    def pid(self) -> int:
        """The postmaster's PID (0 when stopped)."""
        return self._pid

    def start(self) -> PostgresServer:
        """Create the cluster, start it, and load the role, database and PII rows.

        Returns:
            ``self``, started.

        Raises:
            HarnessError: A step failed or the server did not answer within 30 s.
        """
        began = time.monotonic()
        if not (PG_BIN / "initdb").exists():
            raise HarnessError(f"PostgreSQL 15 binaries not found in {PG_BIN}")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _start(self) -> None:
        entry = pwd.getpwnam(PG_USER)
        self.workdir = Path(tempfile.mkdtemp(prefix="gh-pg-"))
        os.chown(self.workdir, entry.pw_uid, entry.pw_gid)
        run(
            as_postgres(
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data_dir),
                "--username=postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ),
            timeout=60,
        )
        for attempt in range(3):
            self.port = free_port()
            if self._pg_ctl_start():
                break
            if attempt == 2:
                raise HarnessError(f"postgres did not start\n{log_tail(self.log_path)}")
        self._pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        self._load()

    def _pg_ctl_start(self) -> bool:
        options = " ".join(
            [
                f"-c port={self.port}",
                f"-c listen_addresses={LOOPBACK}",
                f"-c unix_socket_directories={self.workdir}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        argv = as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )
        try:
            run(argv, timeout=40)
        except HarnessError:
            return False
        wait_until(
            lambda: True if port_accepts(self.port) else None,
            timeout=10,
            what=f"postgres on port {self.port}",
            detail=lambda: log_tail(self.log_path),
        )
        return True

    def _load(self) -> None:
        setup = (
            f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}';\n"
            f"CREATE DATABASE {self.database} OWNER {self.user};\n"
            f"\\connect {self.database} {self.user}\n"
            + shop_schema_sql(self.customers, self.orders)
        )
        self.superuser_psql(setup, database="postgres")

    def superuser_psql(self, sql: str, *, database: str = "postgres") -> str:
        """Run SQL as the ``postgres`` superuser over the private unix socket.

        Args:
            sql: Statements (psql meta-commands allowed), stopping at the first error.
            database: Database to connect to.

        Returns:
            psql's unaligned, tuples-only output.
        """
        argv = as_postgres(
            str(PG_BIN / "psql"),
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.workdir),
            "-p",
            str(self.port),
            "-U",
            PG_USER,
            "-d",
            database,
            "-f",
            "-",
        )
        return run(argv, input_text=sql, timeout=60).stdout

    def app_psql(self, sql: str) -> str:
        """Run SQL as ``app`` over TCP with the password (the way a client of the target would).

        Args:
            sql: One or more statements.

        Returns:
            psql's unaligned, tuples-only output (``|`` between columns).
        """
        env = dict(os.environ, PGPASSWORD=self.password, PGCONNECT_TIMEOUT="5")
        argv = [
            str(PG_BIN / "psql"),
            "-X",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            self.database,
            "-c",
            sql,
        ]
        return run(argv, env=env, timeout=30).stdout

    def stop(self) -> None:
        """Stop the cluster (``pg_ctl stop -m fast``, else SIGKILL by PID); remove the temp dir."""
        if self._pid:
            stop = as_postgres(
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-m",
                "fast",
                "-w",
                "-t",
                "10",
                "stop",
            )
            try:
                run(stop, timeout=15)
            except HarnessError:
                if pid_alive(self._pid):
                    os.kill(self._pid, signal.SIGKILL)
            wait_until(
                lambda: True if not pid_alive(self._pid) else None,
                timeout=10,
                what=f"postmaster {self._pid} to exit",
            )
            self._pid = 0
        if self.workdir != Path() and self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
