"""What the recording's whole-line masking adds to a masked session's output path (in process).

Feeds the same output through the live masking stage alone, then through the whole-line
recording stage and the live stage (what a masked session runs): once with each stage masking
on its own (masked twice), once with the live stage reusing the lines the recording stage
masked whole (``broker/masking/premasked.py``, what a session does), and prints MB/s for each.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_masking import logs
from broker.masking import BUILTIN_DETECTORS, MaskingEngine, MaskingPolicy, StreamMasker
from broker.masking.filter import MaskingFilter
from broker.session.recording import LineRecording

KEY = b"bench-key-0123456789abcdef"
CHUNK = 65536


class NullRecorder:
    """Takes what would be recorded and drops it."""

    error = ""

    def feed(self, data: bytes, stderr: bool) -> bytes:
        return data


def rate(engine: MaskingEngine, data: bytes, *, recorded: bool, shared: bool = False) -> float:
    live = MaskingFilter(engine)
    stage = (
        LineRecording(NullRecorder(), lambda s: StreamMasker(engine, stream=s))  # type: ignore[arg-type]
        if recorded
        else None
    )
    if stage is not None and shared:
        live.premasks = stage.premasks
    start = time.perf_counter()
    for i in range(0, len(data), CHUNK):
        chunk = data[i : i + CHUNK]
        if stage is not None:
            stage.feed(chunk, False)
        live.feed(chunk, False)
    return len(data) / (time.perf_counter() - start) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=8, help="MiB of each payload")
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs")
    parser.add_argument("--quick", action="store_true", help="1 MiB, one run (CI)")
    args = parser.parse_args()
    if args.quick:
        args.mib, args.runs = 1, 1
    engine = MaskingEngine(
        MaskingPolicy(
            detectors=tuple(d for d in BUILTIN_DETECTORS if d.default_on),
            binary="pass",  # the zeros payload is binary: passed, as `binary: pass` allows
        ),
        key=KEY,
    )
    payloads = {"log lines": logs(random.Random(1), args.mib << 20), "zeros": bytes(args.mib << 20)}
    print("MB/s, best of", args.runs, "runs, wall clock, one core")
    print(
        f"{'payload':<10} {'live only':>10} {'+ recording, masked twice':>26} {'ratio':>6}"
        f" {'+ recording, lines reused':>26} {'ratio':>6}"
    )
    for name, data in payloads.items():
        alone = max(rate(engine, data, recorded=False) for _ in range(args.runs))
        twice = max(rate(engine, data, recorded=True) for _ in range(args.runs))
        once = max(rate(engine, data, recorded=True, shared=True) for _ in range(args.runs))
        print(
            f"{name:<10} {alone:>10.1f} {twice:>26.1f} {twice / alone:>6.2f}"
            f" {once:>26.1f} {once / alone:>6.2f}"
        )


if __name__ == "__main__":
    main()
