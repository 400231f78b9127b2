"""Proof-of-masking values: one event per masked value, failures, and per-detector counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple


class MaskEvent(NamedTuple):
    """One value was masked; carries a keyed hash of the value, never the value.

    An immutable record like the frozen dataclasses elsewhere, but a named tuple: one is built
    per masked value on the output hot path, where a tuple is built in one C call and is soon
    untracked by the garbage collector (a dataclass instance costs several times as much).
    """

    detector: str
    """Detector (or ``column`` for a column-name rule) that matched."""
    strategy: str
    """``redact``, ``partial`` or ``hash``."""
    stream: str
    """Where the value was: ``stdout``, ``stderr``, ``text``, ``column:<name>`` …"""
    offset: int
    """Byte offset of the masked bytes in that stream (input side)."""
    length: int
    """Number of input bytes replaced (escape sequences inside the value included)."""
    value_hmac: str
    """Hex keyed BLAKE2b-256 of the value under the deployment's masking key (a MAC; the
    field keeps its name from when it was HMAC-SHA256)."""


@dataclass(frozen=True)
class MaskFailure:
    """Masking raised on a chunk; names the error type only (messages may quote data)."""

    stream: str
    """Stream of the chunk."""
    offset: int
    """Byte offset of the chunk in the stream."""
    length: int
    """Bytes in the chunk."""
    error: str
    """Exception type name."""
    withheld: bool
    """True when the chunk was withheld (fail closed), False when passed through unmasked."""


_new_tuple = tuple.__new__
_detector_of = itemgetter(0)


def new_event(
    detector: str, strategy: str, stream: str, offset: int, length: int, value_hmac: str
) -> MaskEvent:
    """Build a ``MaskEvent`` without the generated ``__new__``'s argument handling.

    Equivalent to ``MaskEvent(detector, strategy, stream, offset, length, value_hmac)``.
    """
    return _new_tuple(MaskEvent, (detector, strategy, stream, offset, length, value_hmac))


class MaskCounter:
    """Counts masked values per detector, for the session's "N values masked" indicator."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def add(self, events: Iterable[MaskEvent]) -> None:
        """Count ``events`` (``Counter.update`` counts in C: this runs once per output chunk)."""
        self._counts.update(map(_detector_of, events))

    @property
    def total(self) -> int:
        """All values masked so far."""
        return sum(self._counts.values())

    def counts(self) -> dict[str, int]:
        """A copy of the per-detector counts, sorted by name."""
        return dict(sorted(self._counts.items()))

    def summary(self) -> str:
        """One line for people, e.g. ``3 values masked (credit_card 2, email 1)``."""
        total = self.total
        noun = "value" if total == 1 else "values"
        if not total:
            return "0 values masked"
        parts = ", ".join(f"{name} {n}" for name, n in self.counts().items())
        return f"{total} {noun} masked ({parts})"
