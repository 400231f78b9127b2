"""Running one detector's regex in its windows, and merging the matches of all detectors.

The hot loops of ``MaskingEngine.find_hits``: matches are kept as plain ``(start, -end, rank)``
tuples (they sort in precedence order in C, without a key function) until they are merged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from broker.masking.detector import Detector, Window

Hit = tuple[int, int, Detector]
"""A value to mask as ``(start, end, detector)`` in stripped-text coordinates."""

Found = list[tuple[int, int, int]]
"""Validated matches as ``(start, -end, rank)``: plain tuples sort in precedence order in C."""
Reach = dict[int, int]
"""End offset → smallest start of a validated match ending there (found so far)."""


def scan_detector(
    det: Detector, rank: int, text: bytes, windows: list[Window], out: Found, reach: Reach
) -> None:
    """Append ``(start, -end, rank)`` for each validated match of ``det`` in ``windows``.

    A match ending where an already validated value ends, but starting after it, lies inside it
    and sorts after it: merging would absorb it whatever its validator says, so the validator
    is not run (a phone number's digits are a candidate CPF; its checksum need not be computed).
    """
    add = out.append
    finditer = det.regex.finditer
    validator = det.validator
    group = det.group
    if det.extend_left is not None:
        _scan_extending(det, rank, text, windows, out, reach)
        return
    if group == 0 and validator is None:
        for a, b in windows:
            for m in finditer(text, a, b):
                start, end = m.span()
                if start < end:
                    add((start, -end, rank))
                    if reach.get(end, end) > start:
                        reach[end] = start
        return
    for a, b in windows:
        for m in finditer(text, a, b):
            if group == 0:
                start, end = m.span()
            elif isinstance(group, tuple):
                start, end = next((m.span(g) for g in group if m.start(g) >= 0), (-1, -1))
            else:
                start, end = m.span(group)
            if start >= end or reach.get(end, end) < start:
                continue
            if validator is None or validator(text[start:end]):
                add((start, -end, rank))
                if reach.get(end, end) > start:
                    reach[end] = start


def _scan_extending(
    det: Detector, rank: int, text: bytes, windows: list[Window], out: Found, reach: Reach
) -> None:
    """``scan_detector`` for a detector widened leftwards by ``extend_left`` (e.g. an email's local part).

    ``extend_left`` is matched on the reversed text from the value's start, looking back at most
    256 bytes (the same as matching the reversed 256 bytes before the value).
    """
    assert det.extend_left is not None
    add = out.append
    group = det.group
    validator = det.validator
    left_match = det.extend_left.match
    size = len(text)
    finditer = det.regex.finditer
    get = reach.get
    run = _left_run(det.extend_left.pattern)
    if group == 0 and validator is None and run is not None:
        # One class repeated: the run of its bytes before each value, found with ``rfind``
        # on the text mapped to members (NUL) and others (0x01), instead of a regex each.
        table, most = run
        rfind = text.translate(table).rfind
        for a, b in windows:
            for m in finditer(text, a, b):
                start, end = m.span()
                if start >= end:
                    continue
                floor = start - most if start > most else 0
                other = rfind(b"\x01", floor, start)
                first = other + 1 if other >= 0 else floor
                if first == start:
                    continue
                known = get(end, end)
                if known < first:
                    continue
                add((first, -end, rank))
                if known > first:
                    reach[end] = first
        return
    rev = text[::-1]
    if group == 0 and validator is None:
        for a, b in windows:
            for m in finditer(text, a, b):
                start, end = m.span()
                at = size - start
                left = left_match(rev, at, at + 256)
                if left is None or start >= end:
                    continue
                start = size - left.end()
                known = get(end, end)
                if known < start:
                    continue
                add((start, -end, rank))
                if known > start:
                    reach[end] = start
        return
    for a, b in windows:
        for m in finditer(text, a, b):
            if isinstance(group, tuple):
                start, end = next((m.span(g) for g in group if m.start(g) >= 0), (-1, -1))
            else:
                start, end = m.span(group)
            if start >= end:
                continue
            at = size - start
            left = left_match(rev, at, at + 256)
            if left is None:
                continue
            start -= left.end() - at
            if get(end, end) < start:
                continue
            if validator is None or validator(text[start:end]):
                add((start, -end, rank))
                if get(end, end) > start:
                    reach[end] = start


_ONE_CLASS = re.compile(rb"\[([^\[\]]+)\]\{1,([0-9]+)\}")


@lru_cache(maxsize=32)
def _left_run(pattern: bytes) -> tuple[bytes, int] | None:
    """For an ``extend_left`` that is one class repeated ``{1,N}``: a ``translate`` table
    mapping its members to NUL and every other byte to 0x01, and N; otherwise None."""
    m = _ONE_CLASS.fullmatch(pattern)
    if m is None:
        return None
    member = re.compile(b"[" + m.group(1) + b"]")
    table = bytes(0 if member.fullmatch(bytes([b])) else 1 for b in range(256))
    return table, int(m.group(2))


def merge_found(found: Found, detectors: Sequence[Detector]) -> list[Hit]:
    """Merge sorted ``(start, -end, rank)`` matches into hits.

    A match starting before the end of the group so far joins it; a group keeps the start and
    detector of its first match (sort order: leftmost, longest, earliest rank).
    """
    merged: list[Hit] = []
    cur_s, cur_e, rank = found[0]
    cur_e = -cur_e
    cur_d = detectors[rank]
    for start, neg_end, rank in found[1:]:
        if start < cur_e:
            if -neg_end > cur_e:
                cur_e = -neg_end
        else:
            merged.append((cur_s, cur_e, cur_d))
            cur_s, cur_e, cur_d = start, -neg_end, detectors[rank]
    merged.append((cur_s, cur_e, cur_d))
    return merged
