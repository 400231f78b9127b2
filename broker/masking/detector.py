"""The detector value type: a named, categorised pattern with an optional validator."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Category = Literal["secret", "pii", "network"]
CATEGORIES: tuple[Category, ...] = ("secret", "pii", "network")

# Characters a token-like secret continues with after a cut (used to keep masking it).
TOKEN_CONTINUATION = re.compile(rb"[A-Za-z0-9+/=_.~%\-]*")


@dataclass(frozen=True)
class Trigger:
    """A cheap prefilter shared by several detectors: runs of bytes from one class.

    ``bytes.translate`` maps the class to NUL and everything else to 0x01, so finding runs is a
    C-speed substring search; detectors then run their regex only in windows around the runs.
    """

    name: str
    """Cache key for the runs of one text."""
    members: bytes
    """The byte class."""
    min_run: int
    """Shortest run worth looking at."""
    marks: bytes
    """Bytes counted in a run (e.g. digits); runs with fewer than ``min_marks`` are dropped."""
    min_marks: int

    def runs(self, text: bytes) -> list[tuple[int, int, int, bool]]:
        """Return ``(start, end, marks, has_space)`` for every qualifying run in ``text``."""
        table = _tables.get(self.members)
        if table is None:
            table = bytes(0 if b in self.members else 1 for b in range(256))
            _tables[self.members] = table
        t = text.translate(table)
        out: list[tuple[int, int, int, bool]] = []
        marks_of = self.marks
        for m in _run_re(self.min_run).finditer(t):
            i, j = m.span()
            seg = text[i:j]
            marks = j - i - len(seg.translate(None, marks_of))
            if marks >= self.min_marks:
                out.append((i, j, marks, b" " in seg))
        return out


def _run_re(size: int) -> re.Pattern[bytes]:
    found = _run_res.get(size)
    if found is None:
        # A literal prefix lets the regex engine use its fast substring search.
        found = _run_res[size] = re.compile(b"\x00" * size + b"\x00*")
    return found


_run_res: dict[int, re.Pattern[bytes]] = {}
_tables: dict[bytes, bytes] = {}
Accept = Callable[[bytes, int, int, int], bool]


@dataclass(frozen=True)
class Detector:
    """One kind of sensitive value the masker recognises.

    Detectors work on bytes: every built-in format is ASCII, and matching bytes means a UTF-8
    character split across chunks can never hide or corrupt a match.
    """

    name: str
    """Stable identifier used in policy files, replacement markers and audit events."""
    category: Category
    """``secret``, ``pii`` or ``network``; policies enable whole categories by this name."""
    regex: re.Pattern[bytes]
    """Pattern whose ``group`` span is the value to mask."""
    validator: Callable[[bytes], bool] | None = None
    """Checksum or structural check on the masked value; a match failing it is ignored."""
    group: int | str | tuple[int, ...] = 0
    """Regex group (or first participating of several) holding the value to mask."""
    anchors: tuple[bytes, ...] = ()
    """Literals of which at least one must occur in the text for the regex to run at all."""
    anchor_re: re.Pattern[bytes] | None = None
    """Alternative to ``anchors``: one regex with a literal prefix, scanned once (faster than
    searching for many literals that share a prefix)."""
    anchors_ci: tuple[bytes, ...] = ()
    """Lower-case literals looked for in the lower-cased text (same role as ``anchors``)."""
    trigger: Trigger | None = None
    """Run the regex only near runs of this trigger (instead of near anchors or everywhere)."""
    marks: tuple[int, int] = (0, 1 << 30)
    """Marks (e.g. digits) a trigger run must have; runs with a space may have more."""
    accept: Accept | None = None
    """Extra cheap check of a trigger run ``(text, start, end, marks)`` before the regex runs."""
    window: tuple[int, int] = (0, 512)
    """Bytes before and after an anchor or run that the regex may look at."""
    extend_left: re.Pattern[bytes] | None = None
    """Matched against the reversed text before the match, to widen it leftwards cheaply."""
    continuation: re.Pattern[bytes] | None = None
    """What a value cut at a stream boundary continues with; masked as part of it."""
    default_on: bool = True
    """Whether the detector is on when a policy does not list detectors."""

    def windows(
        self, text: bytes, lowered: Callable[[], bytes], runs: RunCache
    ) -> list[Window] | None:
        """Return the merged windows of ``text`` to scan, or None to scan all of it.

        Args:
            text: The text about to be scanned.
            lowered: Returns ``text.lower()`` (computed once per text by the caller).
            runs: Returns the trigger runs of ``text`` (computed once per trigger).
        """
        left, right = self.window
        spans: list[Window] = []
        if self.trigger is not None:
            accept = self.accept
            lo, hi = self.marks
            fit = [r for r in runs(self.trigger) if lo <= r[2] <= hi or (r[2] > hi and r[3])]
            for i, j, marks, _ in fit:
                if accept is None or accept(text, i, j, marks):
                    spans.append((i - left, j + right))
        elif self.anchors or self.anchors_ci or self.anchor_re is not None:
            if self.anchor_re is not None:
                spans.extend(
                    (m.start() - left, m.end() + right) for m in self.anchor_re.finditer(text)
                )
            for anchor in self.anchors:
                _occurrences(text, anchor, left, right, spans)
            if self.anchors_ci:
                low = lowered()
                for anchor in self.anchors_ci:
                    _occurrences(low, anchor, left, right, spans)
        else:
            return None
        if len(spans) > 1:
            spans.sort()
        merged: list[Window] = []
        size = len(text)
        for a, b in spans:
            a = max(a, 0)
            b = min(b, size)
            if merged and a <= merged[-1][1]:
                if b > merged[-1][1]:
                    merged[-1] = (merged[-1][0], b)
            else:
                merged.append((a, b))
        return merged


def build(
    name: str,
    category: Category,
    pattern: bytes,
    validator: Callable[[bytes], bool] | None = None,
    *,
    group: int | str | tuple[int, ...] = 0,
    anchors: tuple[bytes, ...] = (),
    anchor_re: bytes | None = None,
    anchors_ci: tuple[bytes, ...] = (),
    extend_left: bytes | None = None,
    trigger: Trigger | None = None,
    marks: tuple[int, int] = (0, 1 << 30),
    accept: Accept | None = None,
    window: tuple[int, int] = (0, 512),
    token: bool = False,
    continuation: re.Pattern[bytes] | None = None,
    default_on: bool = True,
) -> Detector:
    """A detector from uncompiled patterns (``token``: continues like a token after a cut)."""
    return Detector(
        name=name,
        category=category,
        regex=re.compile(pattern),
        validator=validator,
        group=group,
        anchors=anchors,
        anchor_re=re.compile(anchor_re) if anchor_re is not None else None,
        anchors_ci=anchors_ci,
        trigger=trigger,
        marks=marks,
        accept=accept,
        window=window,
        extend_left=re.compile(extend_left) if extend_left is not None else None,
        continuation=TOKEN_CONTINUATION if token else continuation,
        default_on=default_on,
    )


def value_groups(pattern: bytes) -> tuple[int, ...]:
    """Indexes of the groups named ``v…`` in ``pattern``, in order: the alternatives of a
    value, of which the first that participates in a match is the one masked."""
    index = re.compile(pattern).groupindex
    return tuple(sorted(i for name, i in index.items() if name.startswith("v")))


Window = tuple[int, int]
RunCache = Callable[[Trigger], list[tuple[int, int, int, bool]]]


def _occurrences(text: bytes, anchor: bytes, left: int, right: int, out: list[Window]) -> None:
    find = text.find
    size = len(anchor)
    i = find(anchor)
    while i >= 0:
        out.append((i - left, i + size + right))
        i = find(anchor, i + size)
