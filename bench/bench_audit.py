"""Audit log throughput: append (hash + Ed25519 + batched fsync) and verification, records/s."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.auditlog.segments import verify_log
from broker.auditlog.writer import AuditLog


async def append(directory: Path, key: Ed25519PrivateKey, total: int, appenders: int) -> float:
    log = await AuditLog.open(directory, key)
    per = total // appenders

    async def worker(w: int) -> None:
        for n in range(per):
            await log.append(
                "alice", "command.run", "web-1", {"command": f"ls -la /srv/{n}", "w": w, "exit": 0}
            )

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(appenders)))
    elapsed = time.perf_counter() - start
    await log.close()
    return per * appenders / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run for CI")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write (default: a temp dir)"
    )
    args = parser.parse_args()
    total = 4_000 if args.quick else 40_000
    key = Ed25519PrivateKey.generate()
    root = Path(tempfile.mkdtemp(prefix="bench-audit-", dir=args.dir))
    fs = subprocess.run(
        ["stat", "-f", "-c", "%T", str(root)], capture_output=True, text=True
    ).stdout.strip()
    print(f"audit bench: {total} records per row, log on {root} ({fs})")
    print(f"{'what':<44} {'records/s':>12} {'target':>10}")
    try:
        for appenders in (1, 16, 128) if not args.quick else (1, 64):
            n = min(total, 1_000) if appenders == 1 else total
            rate = asyncio.run(append(root / f"a{appenders}", key, n, appenders))
            target = "" if appenders == 1 else ">= 5000"
            print(f"{f'append, {appenders} concurrent appenders':<44} {rate:>12,.0f} {target:>10}")
        biggest = root / ("a128" if not args.quick else "a64")
        for every, label, target in (
            (False, "verify (chain + anchored signatures)", ">= 20000"),
            (True, "verify (every signature)", ""),
        ):
            start = time.perf_counter()
            report = verify_log(biggest, key.public_key(), every_signature=every)
            rate = report.records / (time.perf_counter() - start)
            print(f"{label:<44} {rate:>12,.0f} {target:>10}")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
