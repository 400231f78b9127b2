"""Proof-of-masking values: one event per masked value, failures, and per-detector counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class MaskEvent:
    """One value was masked; carries a keyed hash of the value, never the value."""

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
    """Hex HMAC-SHA256 of the value under the deployment's masking key."""


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


_new = object.__new__


def new_event(
    detector: str, strategy: str, stream: str, offset: int, length: int, value_hmac: str
) -> MaskEvent:
    """Build a ``MaskEvent`` without the frozen dataclass ``__init__`` (one per masked value).

    Equivalent to ``MaskEvent(detector, strategy, stream, offset, length, value_hmac)``: the
    generated ``__init__`` only sets these six attributes, one ``object.__setattr__`` each.
    """
    event: MaskEvent = _new(MaskEvent)
    event.__dict__.update(
        detector=detector,
        strategy=strategy,
        stream=stream,
        offset=offset,
        length=length,
        value_hmac=value_hmac,
    )
    return event


class MaskCounter:
    """Counts masked values per detector, for the session's "N values masked" indicator."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def add(self, events: Iterable[MaskEvent]) -> None:
        """Count ``events``."""
        for event in events:
            self._counts[event.detector] = self._counts.get(event.detector, 0) + 1

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
