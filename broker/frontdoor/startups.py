"""Admission of connections that have not logged in yet: totals, per address, early drop."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from broker.config.limits import MaxStartups


@dataclass(frozen=True)
class Refusal:
    """Why a new connection was dropped before it could try to log in."""

    reason: str
    """``per_source`` (this address holds too many), ``full`` or ``early_drop``."""
    unauthenticated: int
    """Unauthenticated connections held when it came."""


class StartupGate:
    """Counts unauthenticated connections and decides on each new one (no I/O, no clock).

    As OpenSSH's ``MaxStartups start:rate:full``: below ``start`` every connection is
    taken; from ``start`` on, one is dropped with probability ``rate`` percent, rising
    linearly to 100 % at ``full``. Independently, one address may hold at most
    ``per_source`` unauthenticated connections. A connection stops counting once it
    has logged in or closed (:meth:`release`).
    """

    def __init__(self, startups: MaxStartups, per_source: int) -> None:
        self.startups = startups
        self.per_source = per_source
        self.total = 0
        self._by_source: Counter[str] = Counter()

    def held_by(self, source: str) -> int:
        """Unauthenticated connections ``source`` holds."""
        return self._by_source[source]

    def drop_chance(self) -> float:
        """Probability (0..1) that a connection arriving now is dropped early."""
        s = self.startups
        if self.total < s.start:
            return 0.0
        if self.total >= s.full:
            return 1.0
        span = s.full - s.start
        return (s.rate + (100 - s.rate) * (self.total - s.start) / span) / 100

    def admit(self, source: str, draw: float) -> Refusal | None:
        """Decide on a new connection from ``source``; ``draw`` is uniform in [0, 1).

        Returns:
            None when it is taken (and now counts), else why it is dropped.
        """
        if self._by_source[source] >= self.per_source:
            return Refusal("per_source", self.total)
        if self.total >= self.startups.full:
            return Refusal("full", self.total)
        if draw < self.drop_chance():
            return Refusal("early_drop", self.total)
        self.total += 1
        self._by_source[source] += 1
        return None

    def release(self, source: str) -> None:
        """A taken connection logged in or closed: it no longer counts."""
        if self._by_source[source] <= 0:
            return
        self.total -= 1
        self._by_source[source] -= 1
        if not self._by_source[source]:
            del self._by_source[source]
