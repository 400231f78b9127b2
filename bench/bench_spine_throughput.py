"""`run` bulk output through the broker vs direct OpenSSH and an OpenSSH ProxyJump, MiB/s.

Usage: .venv/bin/python bench/bench_spine_throughput.py [--quick] [--reps N] [--payload text]

Each figure is the median of several runs of ``head -c SIZE /dev/zero`` (or, with
``--payload text``, SIZE bytes of repeated log lines from ``yes``) on a private sshd,
timing the whole ssh command (connection set-up included) with output to /dev/null. Runs of
the different paths are interleaved so that background load hits them alike.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import UNMASKED_USER, USER, Spine, median, settle, spine, table

AES = "aes128-gcm@openssh.com"
LOG_LINE = "2026-12-04T06:00:00Z GET /api/v1/items?page=3 200 0.004s user=42 host=web-7 msg=ok"
CHACHA = "chacha20-poly1305@openssh.com"


@dataclass
class Path_:
    """One way of reaching the target, and its timings."""

    label: str
    kind: str
    """``direct``, ``proxyjump`` or ``broker``."""
    cipher: str
    argv: list[str]
    seconds: list[float] = field(default_factory=list)


def build_paths(sp: Spine, workdir: Path, command: str) -> list[Path_]:
    paths = []
    for cipher, name in ((CHACHA, "chacha20"), (AES, "aes128-gcm")):
        paths.append(
            Path_(
                f"direct OpenSSH, {name}",
                "direct",
                name,
                sp.target_argv(command, options=["-c", cipher]),
            )
        )
        config = sp.proxyjump_config(workdir, cipher)
        paths.append(
            Path_(
                f"OpenSSH ProxyJump, {name} both legs",
                "proxyjump",
                name,
                ["ssh", "-F", str(config), "target", command],
            )
        )
        for user, masking in ((UNMASKED_USER, "off"), (USER, "on")):
            paths.append(
                Path_(
                    f"broker run, {name} client leg, masking {masking}",
                    f"broker-masking-{masking}",
                    name,
                    sp.broker_argv("run", "web", "--", command, options=["-c", cipher], user=user),
                )
            )
    return paths


def timed(argv: list[str], limit: float = 300) -> float:
    """Run ``argv`` with stdout to /dev/null; return the wall time. Fails loudly on error.

    The wait blocks in ``waitpid`` (a timer kills the command after ``limit``): a wait with a
    timeout polls with sleeps of up to 50 ms, which put every figure on a 50 ms grid.
    """
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        killer = threading.Timer(limit, proc.kill)
        killer.start()
        try:
            proc.wait()
        finally:
            killer.cancel()
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{argv} failed ({proc.returncode}): {err.read()[-2000:]!r}")
    return elapsed


def check_size(argv: list[str], size: int) -> None:
    """One run counting bytes, so the figures are known to be for complete output."""
    proc = subprocess.run(argv, capture_output=True, timeout=120, check=True)
    if len(proc.stdout) != size:
        raise RuntimeError(f"{argv[-1]!r} gave {len(proc.stdout)} bytes, expected {size}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 MiB, 3 runs each")
    parser.add_argument("--reps", type=int, default=0, help="runs per path (default 5, quick 3)")
    parser.add_argument(
        "--payload",
        choices=("zeros", "text"),
        default="zeros",
        help="zeros: the issue's /dev/zero; text: log lines (recorded and scanned as text)",
    )
    args = parser.parse_args()
    mib = 20 if args.quick else 200
    reps = args.reps or (3 if args.quick else 5)
    command = f"head -c {mib}M /dev/zero"
    if args.payload == "text":
        command = f"yes '{LOG_LINE}' | head -c {mib}M"

    with spine() as sp, tempfile.TemporaryDirectory(prefix="bench-tp-") as tmp:
        paths = build_paths(sp, Path(tmp), command)
        small = f"head -c {1024 * 1024} /dev/zero"
        for path in paths:  # warm-up, and proof that every path delivers all the bytes
            check_size([*path.argv[:-1], small], 1024 * 1024)
        setup: dict[str, list[float]] = {p.label: [] for p in paths}
        budget = time.monotonic() + (40 if args.quick else 3600)
        for _ in range(reps):
            if paths[0].seconds and time.monotonic() > budget:
                break  # --quick stays short on a busy machine: fewer runs, same table
            for path in paths:
                path.seconds.append(timed(path.argv))
                setup[path.label].append(timed([*path.argv[:-1], "true"]))
            settle(0.2)

    base = {p.cipher: p for p in paths if p.kind == "proxyjump"}
    pj_default = base["chacha20"]

    def rate(p: Path_) -> float:
        return mib / median(p.seconds)

    def net(p: Path_) -> float:
        return mib / max(median(p.seconds) - median(setup[p.label]), 1e-6)

    rows = []
    order = ("direct", "proxyjump", "broker-masking-off", "broker-masking-on")
    for path in sorted(paths, key=lambda p: order.index(p.kind)):
        rows.append(
            [
                path.label,
                rate(path),
                f"{min(mib / s for s in path.seconds):.0f}-{max(mib / s for s in path.seconds):.0f}",
                median(setup[path.label]) * 1000,
                net(path),
                f"{rate(path) / rate(pj_default):.2f}x",
                f"{rate(path) / rate(base[path.cipher]):.2f}x",
            ]
        )
    print(
        f"run throughput: `{command}` on a private sshd, {len(paths[0].seconds)} runs each, "
        f"median, load average {os.getloadavg()[0]:.1f} "
        f"(whole ssh command timed; 'connect ms': the same path running `true`; "
        f"'net': transfer time only, whole minus connect; ratios on whole MiB/s)"
    )
    print(
        table(
            ["path", "MiB/s", "range", "connect ms", "net MiB/s", "vs PJ chacha", "vs PJ cipher"],
            rows,
        )
    )
    pj_best = max(rate(p) for p in paths if p.kind == "proxyjump")
    for masking, goal in (("off", 1.0), ("on", 0.5)):
        best = max(rate(p) for p in paths if p.kind == f"broker-masking-{masking}")
        verdict = "met" if best >= goal * pj_best else "NOT met"
        if args.quick:  # 20 MiB: connection set-up dominates, and the broker's is shorter
            verdict = "no verdict at 20 MiB: set-up time dominates; judge the full run"
        print(
            f"target masking {masking}: broker >= {goal:.1f}x ProxyJump -> best broker "
            f"{best:.1f} MiB/s vs best ProxyJump {pj_best:.1f} MiB/s = {best / pj_best:.2f}x "
            f"({verdict})"
        )
    print("(the broker->target leg is asyncssh; the broker prefers aes128-gcm there)")


if __name__ == "__main__":
    main()
