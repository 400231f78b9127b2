"""How long another user waits while one user floods her TUI sessions with input, and memory.

Usage: .venv/bin/python bench/bench_tui_flood.py [--quick] [--channels 3] [--resizes 10000]
       [--writes 1000] [-v] [--py-spy BIN --out FILE]

alice opens TUI sessions (asyncssh, pty) on one connection and, on each, sends window
changes and writes of ``ESC [`` + 4000 × ``9`` + ``A`` as fast as the channel takes them
(the hostile review's flood, tests/hostile/test_tui_input_flood_ssh.py). Meanwhile bob opens
the TUI over and over (login to the picker's first paint) and runs `list`. The table gives
bob's waits before, during, after the flood while alice is still connected, and after she has
gone; and the broker's peak RSS (VmHWM of the serving process).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import time
from pathlib import Path

import asyncssh
from _common import BrokerProcess, local_connection, median, open_tui, table

POLICY = """\
access:
  - {name: all, groups: [engineers], connections: ["*"], action: allow}
"""


def _hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


async def _picker(broker: BrokerProcess) -> float:
    began = time.perf_counter()
    client, _login, _paint = await open_tui(broker.port, broker.keys["bob"], "bob")
    took = time.perf_counter() - began
    await client.close()
    return took


async def _list(broker: BrokerProcess) -> float:
    began = time.perf_counter()
    result = await asyncio.to_thread(
        subprocess.run, broker.ssh("bob", "list"), capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result
    return time.perf_counter() - began


async def _probe(broker: BrokerProcess, rows: dict[str, list[tuple[float, float]]], phase: str):
    rows.setdefault(phase, []).append((await _picker(broker), await _list(broker)))


async def _flood(broker: BrokerProcess, args: argparse.Namespace, conn_box: list[object]) -> float:
    conn = await asyncssh.connect(
        "127.0.0.1",
        broker.port,
        username="alice",
        client_keys=[str(broker.keys["alice"])],
        known_hosts=None,
    )
    conn_box.append(conn)
    channels = []
    for _ in range(args.channels):
        chan, _session = await conn.create_session(
            asyncssh.SSHClientSession, term_type="xterm", term_size=(200, 50)
        )
        channels.append(chan)

    async def resize(chan: asyncssh.SSHClientChannel[str]) -> None:
        for i in range(args.resizes):
            chan.change_terminal_size(10 + i % 500, 10 + i % 300)
            if i % 500 == 0:
                await asyncio.sleep(0)

    async def type_(chan: asyncssh.SSHClientChannel[str]) -> None:
        for i in range(args.writes):
            chan.write("\x1b[" + "9" * 4000 + "A")
            if i % 50 == 0:
                await asyncio.sleep(0)
        deadline = time.monotonic() + 300
        while chan.get_write_buffer_size() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # until the broker has taken it all (its SSH window)

    began = time.perf_counter()
    await asyncio.gather(*(resize(c) for c in channels), *(type_(c) for c in channels))
    return time.perf_counter() - began


async def _main(args: argparse.Namespace) -> None:
    broker = BrokerProcess(
        {"alice": ["engineers"], "bob": ["engineers"]},
        {"shell": local_connection(["bash", "--norc"])},
        POLICY,
    )
    with broker:
        assert broker.proc is not None
        pid = broker.proc.pid
        rows: dict[str, list[tuple[float, float]]] = {}
        for _ in range(3):
            await _probe(broker, rows, "before")
        conns: list[object] = []
        spy = None
        if args.py_spy:  # a profile of the broker while the flood lasts
            spy = subprocess.Popen(
                [args.py_spy, "record", "-p", str(pid), "-d", "10", "-f", "raw", "-o", args.out]
            )
        flood = asyncio.ensure_future(_flood(broker, args, conns))
        while not flood.done():
            await _probe(broker, rows, "during the flood")
        sent = await flood
        for _ in range(3):
            await _probe(broker, rows, "after, alice connected")
        conn = conns[0]
        assert isinstance(conn, asyncssh.SSHClientConnection)
        conn.close()
        await conn.wait_closed()
        for _ in range(3):
            await _probe(broker, rows, "after alice left")
        hwm = _hwm_kib(pid)
        blocked = [
            int(m) for m in re.findall(r"event loop blocked for more than (\d+) ms", broker.log())
        ]
        if args.verbose:
            print(broker.log()[-20000:])
        if spy is not None:
            spy.wait(timeout=60)
    out = []
    for phase, samples in rows.items():
        pickers = [p for p, _ in samples]
        lists = [ls for _, ls in samples]
        out.append((phase, len(samples), median(pickers), max(pickers), median(lists), max(lists)))
    print(
        f"alice: {args.channels} TUI channels, {args.resizes:,} window changes and "
        f"{args.writes:,} writes of 4,003-byte CSI each; flood sent in {sent:.1f} s"
    )
    print(
        table(
            ["bob", "probes", "picker s p50", "picker s max", "list s p50", "list s max"],
            out,
        )
    )
    print(f"broker peak RSS (VmHWM): {hwm / 1024:.0f} MiB")
    longest = max(blocked, default=0)
    print(f"loop stalls > 100 ms (broker watchdog): {len(blocked)}, longest {longest} ms")
    if args.verbose:
        for phase, samples in rows.items():
            print(phase, " ".join(f"{p:.2f}/{ls:.2f}" for p, ls in samples))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--resizes", type=int, default=10_000)
    parser.add_argument("--writes", type=int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="a fifth of the flood (CI)")
    parser.add_argument("-v", "--verbose", action="store_true", help="every probe's waits")
    parser.add_argument("--py-spy", default="", help="py-spy binary: profile the broker")
    parser.add_argument("--out", default="flood-profile.txt", help="where py-spy writes")
    args = parser.parse_args()
    if args.quick:
        args.resizes, args.writes = args.resizes // 5, args.writes // 5
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
