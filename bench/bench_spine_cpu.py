"""The broker's CPU seconds per `run` of 200 MiB, per process: steadier than MiB/s on a busy machine.

Usage: .venv/bin/python bench/bench_spine_cpu.py [--quick] [--reps N] [--masking off,on] [--ciphers chacha20,aes128-gcm]

For each user-leg cipher and masking setting: one warm-up transfer of
``head -c 200M /dev/zero`` through the broker, then ``--reps`` more; prints the mean wall time
and, for each process of the broker's tree that used more than 0.02 s, its user+system CPU
seconds per transfer (from /proc/PID/stat before and after), and that of the broker's loop
thread alone (other threads hash binary output, decision 034). Load from other work on the
machine stretches wall time far more than CPU time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

from _common import UNMASKED_USER, USER, spine

CIPHERS = {"chacha20": "chacha20-poly1305@openssh.com", "aes128-gcm": "aes128-gcm@openssh.com"}
TICK = os.sysconf("SC_CLK_TCK")


def tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def cpu(pid: int) -> tuple[str, float] | None:
    """The process's command line (shortened) and its user+system CPU seconds so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    name = " ".join(a.decode(errors="replace") for a in argv[1:4] if a)[:50]
    return name, (int(fields[11]) + int(fields[12])) / TICK


def thread_cpu(pid: int) -> float:
    """User+system CPU seconds of ``pid``'s main thread (the broker's event loop)."""
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 MiB, one transfer each")
    parser.add_argument("--reps", type=int, default=3, help="transfers after the warm-up")
    parser.add_argument("--masking", default="off,on", help="off, on, or off,on")
    parser.add_argument("--ciphers", default="chacha20,aes128-gcm", help="user-leg ciphers")
    args = parser.parse_args()
    users = {"off": UNMASKED_USER, "on": USER}
    command = f"head -c {20 if args.quick else 200}M /dev/zero"
    reps = 1 if args.quick else args.reps
    print(f"broker CPU per `{command}` (load average {os.getloadavg()[0]:.1f})")
    with spine() as sp:
        assert sp.broker.proc is not None
        root = sp.broker.proc.pid
        for cipher in args.ciphers.split(","):
            for masking in args.masking.split(","):
                argv = sp.broker_argv(
                    "run",
                    "web",
                    "--",
                    command,
                    options=["-c", CIPHERS[cipher]],
                    user=users[masking],
                )
                subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)  # warm-up
                before = {pid: cpu(pid) for pid in tree(root)}
                loop_before = thread_cpu(root)
                start = time.perf_counter()
                for _ in range(reps):
                    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
                wall = (time.perf_counter() - start) / reps
                loop = (thread_cpu(root) - loop_before) / reps
                used = []
                for pid in tree(root):
                    now, then = cpu(pid), before.get(pid)
                    if now and then and (now[1] - then[1]) / reps > 0.02:
                        used.append(f"{now[0]} {(now[1] - then[1]) / reps:.2f} s")
                print(
                    f"{cipher}, masking {masking}: wall {wall:.2f} s per transfer; "
                    f"CPU per transfer: {'; '.join(used)} (its loop thread {loop:.2f} s)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
