"""Benchmark recordings: record+index, seek, 16x playback, and search across many recordings.

Usage: .venv/bin/python bench/bench_recordings.py [--quick] [--keep DIR]
Full run: a 1-hour, ~50 MB recording and ~1 GB of recordings to search.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from recordings.asciicast import Header, SessionMeta
from recordings.index import sidecar_paths
from recordings.store import RecordingStore

COLOURS = ["\x1b[01;34m", "\x1b[01;32m", "\x1b[0;33m", "\x1b[38;5;208m", "\x1b[38;2;10;200;90m"]
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "deploy",
    "nginx",
    "postgres",
    "backup",
    "error",
    "warning",
    "ok",
    "cache",
]


def shell_burst(rng: random.Random, n: int) -> str:
    out = [f"\x1b[1;32mdeploy@web-1\x1b[0m:\x1b[1;34m~\x1b[0m$ ls -la /srv/{rng.choice(WORDS)}\r\n"]
    for _ in range(n):
        name = "-".join(rng.choices(WORDS, k=3))
        size = rng.randint(10, 10**7)
        out.append(
            f"-rw-r--r-- 1 deploy deploy {size:>9} Nov 22 05:41 {rng.choice(COLOURS)}{name}\x1b[0m\r\n"
        )
    return "".join(out)


def top_frame(rng: random.Random, rows: int) -> str:
    out = ["\x1b[H\x1b[1mtop - 12:00:00 up 3 days, load average: 0.42\x1b[0m\x1b[K\r\n"]
    for i in range(rows - 2):
        cpu = rng.random() * 100
        out.append(
            f"\x1b[7m{1000 + i:>6}\x1b[0m root  20 0 {rng.randint(1, 999999):>8} "
            f"{cpu:5.1f} {rng.choice(WORDS):<12}\x1b[K\r\n"
        )
    return "".join(out)


def editor_session(rng: random.Random) -> list[str]:
    frames = ["\x1b[?1049h\x1b[22;0;0t\x1b[H\x1b[2J"]
    for _ in range(rng.randint(3, 8)):
        lines = [
            f"\x1b[{y + 1};1H\x1b[33m{y + 1:>4}\x1b[0m {' '.join(rng.choices(WORDS, k=8))}\x1b[K"
            for y in range(39)
        ]
        frames.append("".join(lines) + "\x1b[40;1H\x1b[7m-- INSERT --\x1b[0m")
    frames.append("\x1b[?1049l")
    return frames


def generate(store: RecordingStore, sid: str, seconds: float, target_bytes: int, seed: int) -> Path:
    rng = random.Random(seed)
    header = Header(
        120,
        40,
        1_700_000_000,
        "xterm-256color",
        SessionMeta(sid, user="alice", connection="web-1", client_addr="127.0.0.1"),
    )
    writer = store.create(header)
    t, written, rate = 0.0, 0, target_bytes / seconds
    while t < seconds and written < target_bytes:
        kind = rng.random()
        if kind < 0.55:
            chunks = [shell_burst(rng, rng.randint(5, 60))]
            writer.marker(t, f"ls -la /srv/{rng.choice(WORDS)}")
        elif kind < 0.85:
            chunks = [top_frame(rng, 40) for _ in range(rng.randint(2, 6))]
        else:
            chunks = editor_session(rng)
        for chunk in chunks:
            writer.output(t, chunk)
            written += len(chunk)
            t += rng.uniform(0.001, 0.02)
        # keep the byte rate on target, with occasional idle gaps
        t = max(t, written / rate)
        if rng.random() < 0.002:
            t += rng.uniform(5, 30)
    writer.output(seconds, f"\r\nsession end {sid}\r\n")
    writer.close()
    return store.path(sid)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    ap.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = ap.parse_args()
    seconds, size, corpus = (3600.0, 50_000_000, 1_000_000_000)
    if args.quick:
        seconds, size, corpus = (360.0, 3_000_000, 50_000_000)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-rec-"))
    rows: list[tuple[str, str, str]] = []
    try:
        store = RecordingStore(root)
        t0 = time.perf_counter()
        cast = generate(store, "base", seconds, size, 1)
        build = time.perf_counter() - t0
        cast_mb = cast.stat().st_size / 1e6
        idx, txt = sidecar_paths(cast)
        rows.append(
            (
                "recording (synthetic)",
                f"{seconds / 60:.0f} min, {cast_mb:.1f} MB",
                f"idx {idx.stat().st_size / 1e6:.1f} MB, txt {txt.stat().st_size / 1e6:.1f} MB",
            )
        )
        rows.append(
            (
                "record + index while writing",
                f"{build:.1f} s",
                f"{cast_mb / build:.2f} MB/s = {seconds / build:.0f}x real time",
            )
        )

        player = store.open("base")
        rng = random.Random(7)
        times = []
        for _ in range(200 if not args.quick else 60):
            t = rng.uniform(0, player.duration)
            s = time.perf_counter()
            player.screen_at(t)
            times.append((time.perf_counter() - s) * 1000)
        rows.append(
            (
                "seek to random point",
                f"p50 {statistics.median(times):.1f} ms",
                f"p95 {pct(times, 95):.1f} ms, max {max(times):.1f} ms "
                f"({len(player.index.keyframes)} keyframes) target p95 < 100 ms",
            )
        )

        window = min(600.0, player.duration)
        head = player.seek(player.duration / 3)
        start_t = head.time
        s = time.perf_counter()
        frame = 16 / 30  # 30 frames per second at 16x
        t = start_t
        while t < start_t + window:
            t += frame
            head.advance(t)
            head.state() if int(t / frame) % 30 == 0 else None
        took = time.perf_counter() - s
        rows.append(
            (
                "playback (advance per 30 fps frame)",
                f"{window / took:.0f}x real time",
                f"{window:.0f} s of recording in {took:.2f} s; target >= 16x",
            )
        )

        copies = max(1, round(corpus / cast.stat().st_size))
        for i in range(copies - 1):
            dst = store.path(f"copy-{i:03d}")
            shutil.copyfile(cast, dst)
            for a, b in zip(sidecar_paths(cast), sidecar_paths(dst), strict=True):
                shutil.copyfile(a, b)
        total = sum(p.stat().st_size for p in root.glob("*.cast")) / 1e6
        text_total = sum(p.stat().st_size for p in root.glob("*.txt")) / 1e6
        for needle, case in (
            ("session end base", True),
            ("postgres-backup-error", True),
            ("postgres-backup-error", False),
        ):
            runs = []
            for _ in range(3):
                s = time.perf_counter()
                hits = store.search(needle, ignore_case=case, limit=10**9)
                runs.append(time.perf_counter() - s)
            rows.append(
                (
                    f"search {needle!r} {'ignore case' if case else 'exact'}",
                    f"{min(runs) * 1000:.0f} ms",
                    f"{copies} recordings, {total:.0f} MB cast, {text_total:.0f} MB text; "
                    f"{len(hits)} hits; target < 1 s",
                )
            )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'figure':<22}  detail")
    for name, fig, detail in rows:
        print(f"{name:<{width}}  {fig:<22}  {detail}")


if __name__ == "__main__":
    main()
