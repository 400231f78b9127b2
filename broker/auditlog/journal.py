"""The synchronous audit journal: recovers the tail, seals, writes, fsyncs, rotates, checkpoints."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from broker.auditchain.canonical import GENESIS, chain_hash
from broker.auditchain.events import Action
from broker.auditchain.record import AuditRecord, RecordFormatError, parse_record
from broker.auditchain.signing import KeyRing, SignatureError, Signer
from broker.auditchain.verify import ChainVerifier
from broker.auditlog.segments import (
    CHECKPOINTS,
    LOCK,
    iter_lines,
    last_line,
    list_segments,
    load_checkpoints,
    segment_name,
)
from broker.auditlog.sinks import SinkDispatcher, SinkEntry
from broker.common.descriptors import EXHAUSTION
from broker.common.errors import AuditWriteError

Item = tuple[str, str, str, dict[str, Any]]
"""``(actor, action, target, details)`` of a record to append, details already checked."""

DEFAULT_SEGMENT_BYTES = 64 << 20


class DescriptorsExhausted(OSError):
    """The process had no descriptor free before any record of a batch was sealed: retry it."""


class Journal:
    """Appends to one audit directory from one thread; an ``flock`` guards each batch.

    Several journals (the broker and a CLI command) may write the same directory: under the lock
    each batch first checks that the tail is still the one it wrote, and reloads it if not.
    """

    def __init__(
        self,
        directory: Path,
        signer: Signer,
        dispatcher: SinkDispatcher,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 60.0,
        trusted_keys: Sequence[Ed25519PublicKey] = (),
    ) -> None:
        """Prepare to write ``directory`` (created 0700 if missing); call :meth:`recover` next."""
        self.directory = directory
        self._signer = signer
        self._dispatcher = dispatcher
        self._segment_bytes = segment_bytes
        self._checkpoint_every = checkpoint_every
        self._checkpoint_interval = checkpoint_interval
        self._keys = KeyRing([signer.public_key, *trusted_keys])
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Held open for the journal's life: a checkpoint or a directory sync never needs a
        # new descriptor, so it cannot fail when the process runs short of them.
        self._dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self._lock_fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
            created = not (directory / CHECKPOINTS).exists()
            self._checkpoint_fd = os.open(
                directory / CHECKPOINTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600
            )
        except BaseException:
            os.close(self._dir_fd)
            raise
        if created:
            os.fsync(self._dir_fd)
        self._fd: int | None = None
        self._index = 0
        self._size = 0
        self._seg_records = 0
        self.seq = 0
        self.hash = GENESIS
        self._pending_checkpoint = 0
        self._last_checkpoint = time.monotonic()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def recover(self, *, full: bool = True) -> dict[str, Any]:
        """Repair a torn tail, verify the newest segment and its link, and continue after it.

        Args:
            full: Verify the whole newest segment and the checkpoints; False checks only the
                last record's signature (for a short-lived CLI writer).

        Returns:
            Facts for the restart record: ``previous_seq``, ``previous_hash`` and what was
            repaired (``repaired_bytes``, ``removed_segments``).

        Raises:
            AuditVerificationError: The tail does not verify, or is behind a signed checkpoint.
        """
        with self._locked():
            facts = self._load(full=full)
        return facts

    def write_batch(self, items: Sequence[Item]) -> list[AuditRecord]:
        """Seal ``items`` in order, write them and fsync once (twice across a rotation).

        Returns:
            The durable records, one per item.

        Raises:
            OSError: Writing or syncing failed; the journal must not be used again.
        """
        entries: list[SinkEntry] = []
        records: list[AuditRecord] = []
        with self._locked():
            try:
                self._resync()
            except OSError as exc:
                if exc.errno in EXHAUSTION:  # nothing sealed yet: the batch may be retried
                    raise DescriptorsExhausted(exc.errno, exc.strerror) from exc
                raise
            pending = bytearray()
            for actor, action, target, details in items:
                if self._fd is None or (
                    self._size + len(pending) >= self._segment_bytes and self._seg_records > 1
                ):
                    self._flush(pending)
                    pending.clear()
                    self._rotate(pending, entries)
                record = self._seal(actor, action, target, details, pending, entries)
                records.append(record)
            self._flush(pending)
            self._pending_checkpoint += len(items)
            if self._pending_checkpoint >= self._checkpoint_every:
                self._write_checkpoint(entries)
        self._dispatcher.submit(entries)
        return records

    def checkpoint_due_in(self) -> float | None:
        """Seconds until a timed checkpoint is due; None when no record awaits one."""
        if not self._pending_checkpoint:
            return None
        return max(0.0, self._last_checkpoint + self._checkpoint_interval - time.monotonic())

    def checkpoint(self) -> None:
        """Write a checkpoint now if any record is not yet covered by one."""
        entries: list[SinkEntry] = []
        with self._locked():
            if self._pending_checkpoint:
                self._write_checkpoint(entries)
        self._dispatcher.submit(entries)

    def close(self, *, checkpoint: bool = True) -> None:
        """Checkpoint what is pending (unless told not to) and close the files."""
        try:
            if checkpoint:
                self.checkpoint()
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            os.close(self._checkpoint_fd)
            os.close(self._lock_fd)
            os.close(self._dir_fd)

    def _seal(
        self,
        actor: str,
        action: str,
        target: str,
        details: dict[str, Any],
        pending: bytearray,
        entries: list[SinkEntry],
    ) -> AuditRecord:
        record = self._signer.seal(
            seq=self.seq + 1, actor=actor, action=action, target=target, details=details,
            prev=self.hash,
        )  # fmt: skip
        canonical = record.canonical()
        pending += canonical + b"\n"
        self.seq = record.seq
        self.hash = chain_hash(canonical)
        self._seg_records += 1
        entries.append(SinkEntry(canonical, record.time, action))
        return record

    def _rotate(self, pending: bytearray, entries: list[SinkEntry]) -> None:
        previous = segment_name(self._index) if self._index else None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._index += 1
        name = segment_name(self._index)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL
        self._fd = os.open(self.directory / name, flags, 0o600)
        os.fsync(self._dir_fd)
        self._size = 0
        self._seg_records = 0
        details = {"segment": name, "previous_segment": previous, "previous_hash": self.hash}
        self._seal("broker", Action.AUDIT_SEGMENT, name, details, pending, entries)

    def _flush(self, pending: bytearray) -> None:
        if not pending or self._fd is None:
            return
        view = memoryview(pending)
        while view:
            view = view[os.write(self._fd, view) :]
        os.fsync(self._fd)
        self._size += len(pending)

    def _write_checkpoint(self, entries: list[SinkEntry]) -> None:
        point = self._signer.checkpoint(
            seq=self.seq, hash_=self.hash, segment=segment_name(self._index)
        )
        line = point.line()
        os.write(self._checkpoint_fd, line)
        os.fsync(self._checkpoint_fd)
        self._pending_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        entries.append(SinkEntry(line[:-1], point.time, Action.AUDIT_CHECKPOINT))

    def _resync(self) -> None:
        name = self.directory / segment_name(self._index + 1)
        if self._fd is None or os.fstat(self._fd).st_size != self._size or name.exists():
            self._load(full=False)

    def _load(self, *, full: bool) -> dict[str, Any]:
        """Read the tail state from disk (repairing a torn last line); verify as asked."""
        facts: dict[str, Any] = {"repaired_bytes": 0, "removed_segments": []}
        segments = list_segments(self.directory)
        while segments:
            path = segments[-1][1]
            facts["repaired_bytes"] += _cut_torn_tail(path)
            if path.stat().st_size:
                break
            path.unlink()
            os.fsync(self._dir_fd)
            facts["removed_segments"].append(path.name)
            segments.pop()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        checkpoints = load_checkpoints(self.directory / CHECKPOINTS) if full else ()
        first_seq, first_prev = 1, GENESIS
        if len(segments) > 1:
            first_seq, first_prev = _tail_of(segments[-2][1])
        verifier = ChainVerifier(
            self._keys, first_seq=first_seq, first_prev=first_prev, checkpoints=checkpoints
        )
        self._index, self._size, self._seg_records = 0, 0, 0
        if segments:
            self._index, path = segments[-1]
            previous = segments[-2][1].name if len(segments) > 1 else None
            verifier.begin_segment(path.name, previous)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            self._size = os.fstat(self._fd).st_size
            self._seg_records = self._feed(verifier, path, full)
        report = verifier.finish() if full else None
        self.seq = report.last_seq or 0 if report else self.seq
        self.hash = report.last_hash if report else self.hash
        facts["previous_seq"], facts["previous_hash"] = self.seq, self.hash
        return facts

    def _feed(self, verifier: ChainVerifier, path: Path, full: bool) -> int:
        if full:
            count = 0
            for lineno, line, _complete in iter_lines(path):
                verifier.feed(line, lineno)
                count += 1
            return count
        tail = last_line(path) or b""
        try:
            record = parse_record(tail)
            self._keys.verify_record(record)
        except (RecordFormatError, SignatureError) as exc:
            raise AuditWriteError(f"{path.name}: the last record is bad: {exc}") from None
        self.seq, self.hash = record.seq, chain_hash(tail)
        with path.open("rb") as stream:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))


def _tail_of(path: Path) -> tuple[int, str]:
    line = last_line(path) or b""
    try:
        seq = json.loads(line)["seq"]
    except (ValueError, KeyError, TypeError):
        seq = 0
    return (seq + 1 if isinstance(seq, int) else 1), chain_hash(line)


def _cut_torn_tail(path: Path) -> int:
    """Truncate ``path`` after its last newline; return how many bytes were cut."""
    with path.open("rb+") as stream:
        size = stream.seek(0, os.SEEK_END)
        end = size
        while end > 0:
            start = max(0, end - (1 << 16))
            stream.seek(start)
            newline = stream.read(end - start).rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        if end != size:
            stream.truncate(end)
            stream.flush()
            os.fsync(stream.fileno())
        return size - end
