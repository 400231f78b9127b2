"""Chain and signature verification of a stream of audit lines; raises on the first bad record."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from broker.auditchain.canonical import GENESIS, chain_hash
from broker.auditchain.events import Action
from broker.auditchain.record import AuditRecord, Checkpoint, RecordFormatError, parse_record
from broker.auditchain.signing import KeyRing, SignatureError
from broker.common.errors import AuditVerificationError

ANCHOR_EVERY = 64
"""In anchored mode, every this many records a signature is checked (bounds the search window)."""


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What a successful verification covered."""

    records: int
    """Records verified."""
    segments: int
    """Segment files read (0 for a standalone slice)."""
    first_seq: int | None
    """Seq of the first record verified, None if there were none."""
    last_seq: int | None
    """Seq of the last record verified."""
    last_hash: str
    """Chain hash of the last record (or the starting hash when there were none)."""
    first_time: str | None
    """Time of the first record verified."""
    last_time: str | None
    """Time of the last record verified."""
    signatures_checked: int
    """Signatures checked one by one; the chain makes the last one cover all before it."""
    every_signature: bool
    """True when every record's signature was checked, False when anchored."""
    checkpoints_matched: int
    """Checkpoints whose (seq, hash) were found in the verified records."""
    key_ids: tuple[str, ...]
    """Ids of the keys that signed the records."""


@dataclass(slots=True)
class _Seen:
    record: AuditRecord
    segment: str
    lineno: int


class ChainVerifier:
    """Feeds on audit lines in order and raises :class:`AuditVerificationError` at the first fault.

    In anchored mode (the default) every record is parsed, hashed and chain-checked, and a
    signature is checked every :data:`ANCHOR_EVERY` records and at the end: since each record
    signs the hash of its predecessor, a valid signature covers every record before it. When a
    check fails, the unverified records since the last anchor are verified one by one so that the
    error names the first bad record, exactly as the every-signature mode would.
    """

    def __init__(
        self,
        keys: KeyRing,
        *,
        first_seq: int | None = 1,
        first_prev: str | None = GENESIS,
        every_signature: bool = False,
        segmented: bool = True,
        checkpoints: Iterable[Checkpoint] = (),
    ) -> None:
        """Start a verification.

        Args:
            keys: Trusted public keys.
            first_seq: Seq the first record must have; None to accept what it says (a slice).
            first_prev: ``prev`` the first record must have; None to accept it (a slice).
            every_signature: Check each record's signature instead of anchoring.
            segmented: Expect :meth:`begin_segment` calls and a header record at each start;
                False reads a flat slice where header records may appear anywhere.
            checkpoints: Signed checkpoints the records must agree with.
        """
        self._keys = keys
        self._next_seq = first_seq
        self._prev = first_prev
        self._every = every_signature
        self._segmented = segmented
        self._checkpoints: dict[int, Checkpoint] = {}
        for point in checkpoints:
            try:
                keys.verify_checkpoint(point)
            except SignatureError as exc:
                raise AuditVerificationError(
                    f"checkpoint for record {point.seq}: {exc}",
                    seq=point.seq,
                    segment="checkpoints.jsonl",
                ) from None
            self._checkpoints[point.seq] = point
        self._window: deque[_Seen] = deque()
        self._segment = ""
        self._previous_segment: str | None = None
        self._expect_header = False
        self._first: AuditRecord | None = None
        self._last: AuditRecord | None = None
        self._count = 0
        self._segments = 0
        self._sigs = 0
        self._matched = 0
        self._key_ids: set[str] = set()

    @property
    def last_hash(self) -> str:
        """Chain hash of the last record fed (or the starting ``prev``)."""
        return self._prev or GENESIS

    @property
    def last_seq(self) -> int | None:
        """Seq of the last record fed."""
        return self._last.seq if self._last else None

    def begin_segment(self, name: str, previous: str | None) -> None:
        """Announce that the next line is the first of segment file ``name``.

        Args:
            name: The segment's file name, which its header must state.
            previous: The name of the segment before it (None for the first), likewise.
        """
        self._previous_segment = previous
        self._segment = name
        self._segments += 1
        self._expect_header = self._segmented

    def fail(self, reason: str, lineno: int, *, seq: int | None = None) -> None:
        """Raise for a fault found outside a record (e.g. a missing segment or truncated line).

        Unverified records before it are checked first, so a bad signature there wins.

        Raises:
            AuditVerificationError: Always.
        """
        self._check_window()
        expected = self._next_seq if seq is None else seq
        self._raise(reason, lineno, expected)

    def feed(self, line: bytes, lineno: int) -> AuditRecord:
        """Verify the next line (without its newline).

        Args:
            line: The stored bytes.
            lineno: 1-based line number within the current segment (for messages).

        Returns:
            The record, which may be used (in anchored mode it is authenticated once
            :meth:`finish` returns).

        Raises:
            AuditVerificationError: The line or anything before it is bad.
        """
        try:
            record = parse_record(line)
        except RecordFormatError as exc:
            self.fail(str(exc), lineno)
            raise AssertionError("unreachable") from exc
        seen = _Seen(record, self._segment, lineno)
        fault = self._cheap_fault(record)
        if fault is not None or self._every:
            self._check_window()
            self._check_signature(seen)
            if fault is not None:
                self._raise(fault, lineno, record.seq if self._next_seq is None else self._next_seq)
        else:
            self._window.append(seen)
            if len(self._window) >= ANCHOR_EVERY:
                self._anchor()
        digest = chain_hash(line)
        point = self._checkpoints.get(record.seq)
        if point is not None:
            if point.hash != digest:
                self._check_window()
                self._raise("record does not match the signed checkpoint", lineno, record.seq)
            self._matched += 1
        self._prev = digest
        self._next_seq = record.seq + 1
        self._first = self._first or record
        self._last = record
        self._count += 1
        self._key_ids.add(record.key_id)
        return record

    def finish(self) -> VerifyReport:
        """Check the pending signatures and the checkpoints beyond the end; return the report.

        Raises:
            AuditVerificationError: A pending signature is bad, or a checkpoint names a record
                past the end of the log (the tail was truncated).
        """
        self._anchor()
        last_seq = self._last.seq if self._last else (self._next_seq or 1) - 1
        beyond = [seq for seq in self._checkpoints if seq > last_seq]
        if beyond:
            point = self._checkpoints[max(beyond)]
            self._raise(
                f"truncated tail: signed checkpoint names record {point.seq} "
                f"(in {point.segment}) but the log ends at record {last_seq}",
                0,
                last_seq + 1,
            )
        return VerifyReport(
            records=self._count,
            segments=self._segments if self._segmented else 0,
            first_seq=self._first.seq if self._first else None,
            last_seq=self._last.seq if self._last else None,
            last_hash=self.last_hash,
            first_time=self._first.time if self._first else None,
            last_time=self._last.time if self._last else None,
            signatures_checked=self._sigs,
            every_signature=self._every,
            checkpoints_matched=self._matched,
            key_ids=tuple(sorted(self._key_ids)),
        )

    def _cheap_fault(self, record: AuditRecord) -> str | None:
        if record.key_id not in self._keys:
            return f"unknown key {record.key_id}"
        header = record.action == Action.AUDIT_SEGMENT
        if self._expect_header:
            self._expect_header = False
            if not header:
                return "bad segment header: the first record of a segment is not audit.segment"
            named = record.details.get("segment")
            if named != self._segment:
                return f"replayed or renamed segment: its header names {named!r}"
            if record.details.get("previous_segment") != self._previous_segment:
                return "bad segment header: previous_segment does not name the segment before"
            if record.details.get("previous_hash") != record.prev:
                return "bad segment header: previous_hash differs from prev"
        elif header and self._segmented:
            return "segment header in the middle of a segment"
        expected = self._next_seq
        if expected is not None and record.seq != expected:
            if record.seq < expected:
                return f"reordered or replayed record: seq {record.seq} where {expected} was due"
            return (
                f"seq gap: seq {record.seq} where {expected} was due (records missing or reordered)"
            )
        if self._prev is not None and record.prev != self._prev:
            return "broken chain: prev is not the hash of the record before"
        return None

    def _anchor(self) -> None:
        """Check the newest unverified record; it covers the rest of the window via the chain."""
        if not self._window:
            return
        newest = self._window[-1]
        self._sigs += 1
        try:
            self._keys.verify_record(newest.record)
        except SignatureError:
            self._check_window()  # find and name the first bad one
        self._window.clear()

    def _check_window(self) -> None:
        while self._window:
            self._check_signature(self._window.popleft())

    def _check_signature(self, seen: _Seen) -> None:
        self._sigs += 1
        try:
            self._keys.verify_record(seen.record)
        except SignatureError as exc:
            self._raise(str(exc), seen.lineno, seen.record.seq, seen.segment)

    def _raise(self, reason: str, lineno: int, seq: int | None, segment: str | None = None) -> None:
        segment = self._segment if segment is None else segment
        where = (
            f"{segment}:{lineno}: " if segment and lineno else (f"{segment}: " if segment else "")
        )
        record = f"record {seq}: " if seq is not None else ""
        raise AuditVerificationError(f"{where}{record}{reason}", seq=seq, segment=segment)
