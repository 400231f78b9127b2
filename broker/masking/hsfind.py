"""Whether bytes hold a match of one pattern: one Hyperscan pass where Hyperscan works.

For questions asked of a whole page at C speed, such as "is some line longer than eight
bytes" (``broker/masking/sqlcells.py``), where ``re`` would step through every position.
Pure: no I/O.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

try:
    import hyperscan
except ImportError:  # pragma: no cover - the dependency is declared; this keeps a fallback
    hyperscan = None  # type: ignore[assignment]


class HsFinder:
    """``finder(data)``: whether ``pattern`` matches somewhere in ``data``; ``fallback`` answers
    the same question where Hyperscan is missing or cannot compile for this CPU."""

    def __init__(self, pattern: bytes, fallback: Callable[[bytes], bool]) -> None:
        self.pattern = pattern
        self._fallback = fallback
        self._db: Any = None
        self._local = threading.local()
        if hyperscan is not None:
            try:
                db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
                db.compile(expressions=[pattern], ids=[0], flags=[hyperscan.HS_FLAG_SINGLEMATCH])
            except hyperscan.error:  # pragma: no cover - e.g. a CPU without SSSE3
                return
            self._db = db

    def __call__(self, data: bytes) -> bool:
        if self._db is None:
            return self._fallback(data)
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:  # scans must not share one across threads
            scratch = self._local.scratch = hyperscan.Scratch(self._db)
        found: list[int] = []

        def on_match(_id: int, _start: int, end: int, _flags: int, _ctx: object) -> bool:
            found.append(end)
            return True  # stop at the first one

        with contextlib.suppress(hyperscan.ScanTerminated):
            self._db.scan(data, match_event_handler=on_match, scratch=scratch)
        return bool(found)
