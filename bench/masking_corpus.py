"""Recall and negatives altered on the peers' corpus (Presidio, detect-secrets), per detector."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.masking_corpus import (  # noqa: E402
    all_detectors_engine,
    judge,
    load_cases,
    score,
    table,
    total,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--failures", action="store_true", help="list the cases that failed")
    args = parser.parse_args()
    engine = all_detectors_engine()
    outcomes = [judge(engine, case) for case in load_cases()]
    rows = score(outcomes)
    print("policy: detectors {enable: all}; a positive is recalled when no piece of half a value")
    print("survives; a negative is altered when anything in it was masked")
    print(table(rows))
    t = total(rows)
    share = 100 * t.altered / t.negatives if t.negatives else 0.0
    print(f"\nrecall {100 * t.recall:.1f}% overall; {share:.2f}% of negatives altered")
    if args.failures:
        for o in outcomes:
            if not o.ok:
                s = o.case.source
                kind = "missed" if o.case.positive else "altered"
                print(f"{kind:>8} {o.case.detector:<22} {s.file.rsplit('/', 1)[-1]}:{s.line}")
                print(f"         in:  {o.case.text!r}")
                print(f"         out: {o.masked!r}")


if __name__ == "__main__":
    main()
