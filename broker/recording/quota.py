"""Recording quotas: per session, in all, and free disk kept for the audit log (no I/O here)."""

from __future__ import annotations

from broker.common.errors import RecordingError
from broker.config.limits import RecordingQuota

FREE_CHECK_BYTES = 1 << 20
"""Bytes recorded between two looks at the disk's free space."""


def format_size(size: int) -> str:
    """``1048576`` → ``1 MiB``; exact below KiB, one decimal above when not whole."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


class QuotaExceeded(RecordingError):
    """A recording may not grow further; the message names the quota (the user reads it)."""


class QuotaLedger:
    """Sizes of the recordings being written and of those on disk, held against a quota.

    The recorder process calls :meth:`opened`, :meth:`charge` after each write,
    :meth:`closed`, and :meth:`rescanned` with a fresh total from disk now and then
    (retention deletes recordings behind its back). Free space is asked for only every
    ``FREE_CHECK_BYTES`` (see :meth:`needs_free_space`).
    """

    def __init__(self, quota: RecordingQuota, on_disk: int = 0) -> None:
        self.quota = quota
        self.on_disk = on_disk
        """Bytes of recordings not being written by this process (closed ones, others')."""
        self._open: dict[int, int] = {}
        self._open_total = 0
        self._since_free_check = FREE_CHECK_BYTES  # look at the first write

    @property
    def total(self) -> int:
        return self.on_disk + self._open_total

    def opened(self, sid: int, size: int) -> None:
        self._open[sid] = size
        self._open_total += size

    def closed(self, sid: int, size: int | None = None) -> None:
        """Recording ``sid`` is closed (at ``size`` bytes, if known); it stays on disk."""
        held = self._open.pop(sid, 0)
        self._open_total -= held
        self.on_disk += held if size is None else size

    def rescanned(self, everything_on_disk: int) -> None:
        """A fresh sum of every recording file, the open ones included."""
        self.on_disk = max(0, everything_on_disk - self._open_total)

    def needs_free_space(self) -> bool:
        """Whether the next :meth:`charge` should be given the disk's free space."""
        return bool(self.quota.reserve_bytes) and self._since_free_check >= FREE_CHECK_BYTES

    def charge(self, sid: int, size: int, free: int | None = None) -> None:
        """Recording ``sid`` is now ``size`` bytes; ``free``: the disk's free bytes, if looked at.

        Raises:
            QuotaExceeded: naming the quota it went past.
        """
        grew = size - self._open.get(sid, 0)
        self._open[sid] = size
        self._open_total += grew
        self._since_free_check += max(0, grew)
        q = self.quota
        if q.max_session_bytes and size > q.max_session_bytes:
            raise QuotaExceeded(
                "the recording of this session reached its quota "
                f"(recording.max_session_bytes: {format_size(q.max_session_bytes)})"
            )
        if q.max_total_bytes and self.total > q.max_total_bytes:
            raise QuotaExceeded(
                "recordings in all reached their quota "
                f"(recording.max_total_bytes: {format_size(q.max_total_bytes)})"
            )
        if free is not None:
            self._since_free_check = 0
            if free < q.reserve_bytes:
                raise QuotaExceeded(
                    "the disk is nearly full: the last "
                    f"{format_size(q.reserve_bytes)} are kept for the audit log "
                    "(recording.reserve_bytes)"
                )
