"""Shared set-up for the spine benchmarks: a private sshd, a broker in front of it, stats, tables."""

from __future__ import annotations

import contextlib
import gc
import math
import re
import shutil
import statistics
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.harness.accounts import local_connection  # noqa: E402, F401  (re-exported for benches)
from tests.harness.process import LOOPBACK  # noqa: E402
from tests.harness.sshd import CLIENT_OPTIONS, SshdTarget  # noqa: E402
from tests.support.broker import BrokerProcess  # noqa: E402
from tests.support.tui_client import TuiClient  # noqa: E402

USER = "alice"
"""Masked like any user."""
UNMASKED_USER = "bob"
"""In the break-glass group ``unmasked``: the broker does not mask bob's sessions (audited)."""
POLICY = (
    "access:\n  - {name: bench-all, groups: [bench], connections: ['*'], action: allow}\n"
    "masking: {binary: pass}\n"  # /dev/zero is binary output (docs/decisions/020)
)
SSH_BASE = (
    "ssh",
    *CLIENT_OPTIONS,
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
)


@dataclass
class Spine:
    """A running private sshd and a broker whose connection ``web`` points at it."""

    sshd: SshdTarget
    broker: BrokerProcess

    def target_argv(
        self, *remote: str, options: Sequence[str] = (), tty: bool = False
    ) -> list[str]:
        """Direct OpenSSH to the sshd."""
        return self.sshd.ssh_argv(*remote, tty=tty, options=options)

    def broker_argv(
        self, *remote: str, options: Sequence[str] = (), tty: bool = False, user: str = USER
    ) -> list[str]:
        """OpenSSH to the broker as ``user`` (``alice``: masked; ``bob``: unmasked)."""
        argv = [*SSH_BASE, "-i", str(self.broker.keys[user]), *options]
        if tty:
            argv.append("-tt")
        return [*argv, "-p", str(self.broker.port), f"{user}@{LOOPBACK}", *remote]

    def proxyjump_config(self, directory: Path, cipher: str | None = None) -> Path:
        """An ssh_config with aliases ``jump`` and ``target`` (via ``jump``), both this sshd.

        ``-J`` to the same host:port is refused as a loop, so two aliases are needed. The
        cipher goes in the file so that the jump leg (a child ``ssh -W``) uses it as well.
        """
        common = [
            "  HostName 127.0.0.1",
            f"  Port {self.sshd.port}",
            f"  User {self.sshd.user}",
            f"  IdentityFile {self.sshd.client_key}",
            "  IdentitiesOnly yes",
            "  BatchMode yes",
            "  StrictHostKeyChecking no",
            "  UserKnownHostsFile /dev/null",
            "  KexAlgorithms curve25519-sha256",
            "  LogLevel ERROR",
        ]
        if cipher:
            common.append(f"  Ciphers {cipher}")
        lines = ["Host jump", *common, "Host target", *common, "  ProxyJump jump", ""]
        path = directory / f"ssh_config.{cipher or 'default'}"
        path.write_text("\n".join(lines))
        return path


@contextlib.contextmanager
def spine(
    connections: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    workers: int = 1,
    verbose: bool = False,
) -> Iterator[Spine]:
    """Start a private sshd and a broker (user ``alice``, connection ``web`` + ``connections``).

    ``verbose`` runs the broker with debug lines in its log (its garbage collections, say).
    Both are stopped, and their work dirs removed, on exit.
    """
    with SshdTarget() as sshd:
        web = {
            "type": "ssh",
            "host": LOOPBACK,
            "port": sshd.port,
            "user": sshd.user,
            "credential": "web",
            "host_key": sshd.host_key_line,
        }
        all_connections = {"web": web, **(connections or {})}
        broker = BrokerProcess(
            {USER: ["bench"], UNMASKED_USER: ["bench", "unmasked"]},
            all_connections,
            POLICY,
            workers=workers,
            verbose=verbose,
        )
        try:
            broker.set_secret("web", sshd.client_key.read_bytes())
            with broker:
                yield Spine(sshd, broker)
        finally:
            broker.stop()
            shutil.rmtree(broker.dir, ignore_errors=True)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Format a plain-text table, first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells[1:]]
    return "\n".join(out)


def _fmt(cell: object) -> str:
    if isinstance(cell, float):
        return f"{cell:,.2f}" if abs(cell) < 1000 else f"{cell:,.0f}"
    return str(cell)


@dataclass(frozen=True)
class Memory:
    """A process's memory from /proc/PID/smaps_rollup, in KiB."""

    rss: int
    pss: int


def memory(pid: int) -> Memory:
    """RSS and PSS of ``pid`` and every process under it (workers, the recorder), KiB."""
    rss = pss = 0
    for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        fields: dict[str, int] = {}
        try:
            text = Path(f"/proc/{proc.pid}/smaps_rollup").read_text()
        except OSError:
            continue  # it ended meanwhile
        for raw in text.splitlines():
            name, _, rest = raw.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                fields[name] = int(parts[0])
        rss += fields.get("Rss", 0)
        pss += fields.get("Pss", 0)
    return Memory(rss, pss)


def settle(seconds: float) -> None:
    """Let the machine quiet down between measurements (and collect our own garbage)."""
    gc.collect()
    time.sleep(seconds)


async def open_tui(
    port: int, key: Path, user: str = USER, size: tuple[int, int] = (120, 40)
) -> tuple[TuiClient, float, float]:
    """Log in and open the TUI; returns the client, login and first-paint seconds.

    Login is TCP connect + key exchange + authentication; first paint runs from asking for
    the session until the picker's text has arrived.
    """
    began = time.perf_counter()
    client = await TuiClient.connect(port, key, user, size)
    try:
        painted = await client.wait(PICKER, timeout=30)
    except BaseException:
        await client.close()
        raise
    return client, client.logged_in_at - began, painted - client.logged_in_at


PICKER = re.compile(rb"to filter connections")
"""The picker's placeholder: its arrival is first paint."""
