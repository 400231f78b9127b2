"""File descriptors: the process limit raised at start, a headroom kept for the broker's own files."""

from __future__ import annotations

import errno
import logging
import os
import resource
import time

log = logging.getLogger(__name__)

RESERVED = 64
"""Descriptors kept free for the audit log, recordings, upstream sessions and index builds."""
UNLIMITED = 1 << 20
"""Taken as the limit when the system reports none (Linux never does for open files)."""
EXHAUSTION = frozenset((errno.EMFILE, errno.ENFILE))
"""errno values that mean "no descriptor left" (pressure, not a broken disk)."""


def is_exhaustion(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is an out-of-descriptors error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in EXHAUSTION:
            return True
        current = current.__cause__ or current.__context__
    return False


def raise_nofile_limit() -> tuple[int, int]:
    """Raise this process's soft ``RLIMIT_NOFILE`` to its hard limit; returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, hard, exc)
    return soft, hard


def open_descriptors() -> int:
    """How many descriptors this process has open (Linux: ``/proc/self/fd``)."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # minus the one listdir itself held
    except OSError:
        return 0


class DescriptorBudget:
    """Tells the listener when to stop taking connections so that the broker's files can open.

    Counting ``/proc/self/fd`` costs about 3 µs per open descriptor, so the count is
    refreshed only when it may have changed enough to matter: every ``recount`` accepts while
    far from the limit, on every accept near it, and on a timer (:meth:`refresh`).
    """

    def __init__(self, reserve: int = RESERVED, *, limit: int | None = None) -> None:
        self._fixed = limit
        self._wanted = reserve
        self.limit = 0
        self.reserve = 0
        self.count = 0
        self._since = 0
        self.counted_at = 0.0
        self.refresh()

    @property
    def headroom(self) -> int:
        """Descriptors free beyond the reserve, as of the last count."""
        return self.limit - self.reserve - self.count

    def _read_limit(self) -> None:
        """The limit may be changed from outside (``prlimit``); reading it costs a syscall."""
        limit = (
            resource.getrlimit(resource.RLIMIT_NOFILE)[0] if self._fixed is None else self._fixed
        )
        if limit == resource.RLIM_INFINITY or limit < 0:
            limit = UNLIMITED
        if limit != self.limit:
            self.limit = limit
            self.reserve = min(self._wanted, max(8, limit // 4))

    def refresh(self) -> int:
        """Count again; returns the headroom."""
        self._read_limit()
        self.count = open_descriptors()
        self._since = 0
        self.counted_at = time.monotonic()
        return self.headroom

    def taken(self) -> bool:
        """One descriptor was just taken (an accept); False when the reserve is reached."""
        self.count += 1
        self._since += 1
        self._read_limit()
        if self.headroom <= 0 or self._since * 2 >= self.headroom:
            self.refresh()
        return self.headroom > 0

    def low(self) -> bool:
        """Whether the reserve is reached (per the last count)."""
        return self.headroom <= 0

    def ample(self) -> bool:
        """Whether accepting may resume: a count shows a margin of a reserve beyond the reserve."""
        return self.refresh() >= self.reserve
