"""Keystroke echo round trip in a terminal session: through the broker vs direct OpenSSH.

Usage: .venv/bin/python bench/bench_keystroke.py [--quick] [--keys N] [--bulk]

Each path is a real ``ssh -tt`` on a pty (tests/harness/pty_client.py) running ``cat`` in raw
mode on the private sshd, so one byte typed comes back as exactly that byte, echoed by the
remote program. The time from writing the byte to the pty until its echo arrives is one
sample. Paths are sampled round-robin, so background load hits them alike.

With ``--bulk`` (fairness), another user's `run` pushes ``/dev/zero`` through the same
broker, masked, without pause while the keystrokes are sampled (target: p99 < 50 ms).
"""

from __future__ import annotations

import argparse
import os
import re
import string
import subprocess
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from _common import UNMASKED_USER, USER, median, percentile, spine, table

from tests.harness.pty_client import PtyClient

PROMPT = re.compile(r"\$\s*$", re.M)
READY = b"READY"


def start_cat(argv: list[str]) -> PtyClient:
    """Start ``argv`` (an ssh to a shell) on a pty and turn the shell into raw-mode ``cat``."""
    client = PtyClient.start(argv, cols=120, rows=40)
    try:
        client.wait_for(PROMPT, timeout=20)
        # The typed line is echoed as RE""ADY; only the command's output reads READY.
        client.send_text('stty raw -echo; echo RE""ADY; exec cat\n')
        client.wait_raw(READY, timeout=10)
        time.sleep(0.2)
    except BaseException:
        client.kill()
        raise
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 keystrokes per path")
    parser.add_argument("--keys", type=int, default=0, help="keystrokes per path (default 300)")
    parser.add_argument("--gap", type=float, default=0.004, help="seconds between keystrokes")
    parser.add_argument(
        "--bulk", action="store_true", help="while another session pushes bulk output"
    )
    args = parser.parse_args()
    keys = args.keys or (100 if args.quick else 300)
    load_before = os.getloadavg()[0]
    with spine() as sp, ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ks-")))
        config = sp.proxyjump_config(tmp)
        argvs = {
            "direct OpenSSH": sp.target_argv(tty=True),
            "OpenSSH ProxyJump": ["ssh", "-tt", "-F", str(config), "target"],
            "broker connect, masking off": sp.broker_argv(
                "connect", "web", tty=True, user=UNMASKED_USER
            ),
            "broker connect, masking on": sp.broker_argv("connect", "web", tty=True, user=USER),
        }
        clients = {label: stack.enter_context(start_cat(argv)) for label, argv in argvs.items()}
        pushed = [0]
        if args.bulk:
            bulk = sp.broker_argv("run", "web", "--", "head -c 100M /dev/zero", user=USER)
            stop = threading.Event()
            pusher = threading.Thread(target=push_bulk, args=(bulk, stop, pushed), daemon=True)
            pusher.start()
            stack.callback(pusher.join, 300)
            stack.callback(stop.set)
            time.sleep(1.0)  # the bulk transfer is under way
        samples: dict[str, list[float]] = {label: [] for label in clients}
        letters = string.ascii_lowercase
        for n in range(keys):
            key = letters[n % len(letters)].encode()
            for label, client in clients.items():
                mark = client.raw_length
                sent = client.send_bytes(key)
                arrived = client.wait_raw(key, since=mark, timeout=5)
                samples[label].append((arrived - sent) * 1e6)
                time.sleep(args.gap)
    load_after = os.getloadavg()[0]

    direct = median(samples["direct OpenSSH"])
    rows = []
    for label, values in samples.items():
        p50 = median(values)
        rows.append(
            [
                label,
                p50,
                percentile(values, 95),
                percentile(values, 99),
                max(values),
                p50 - direct,
                f"{p50 / direct:.2f}x",
            ]
        )
    during = f", while another session pushed {pushed[0]} MiB of output" if args.bulk else ""
    print(
        f"keystroke echo round trip, raw-mode cat on a private sshd, {keys} keystrokes per path "
        f"(load average {load_before:.1f} -> {load_after:.1f}){during}; microseconds"
    )
    print(
        table(["path", "p50 us", "p95 us", "p99 us", "max us", "added p50 us", "vs direct"], rows)
    )
    for label in ("broker connect, masking off", "broker connect, masking on"):
        added = median(samples[label]) - direct
        verdict = "met" if added < 1000 else "NOT met"
        if not args.bulk:  # the added-latency target is for a broker with nothing else to do
            print(f"target < 1 ms added at p50, {label}: {added / 1000:.3f} ms ({verdict})")
        else:
            p99 = percentile(samples[label], 99) / 1000
            verdict = "met" if p99 < 50 else "NOT met"
            print(f"fairness target p99 < 50 ms during bulk, {label}: {p99:.1f} ms ({verdict})")


def push_bulk(argv: list[str], stop: threading.Event, pushed: list[int]) -> None:
    """Run ``argv`` (100 MiB of output) again and again until ``stop``; count MiB moved."""
    while not stop.is_set():
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"bulk run failed ({proc.returncode})")
        pushed[0] += 100


if __name__ == "__main__":
    main()
