"""The on-disk layout of the audit log: segment files, checkpoints, full and tail reads."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from broker.auditchain.canonical import chain_hash, format_time
from broker.auditchain.events import Action
from broker.auditchain.record import AuditRecord, Checkpoint, RecordFormatError, parse_checkpoint
from broker.auditchain.signing import KeyRing, as_keyring
from broker.auditchain.verify import ChainVerifier, VerifyReport
from broker.common.errors import AuditVerificationError

_CHECKPOINT_MARK: Final = f'"{Action.AUDIT_CHECKPOINT}"'.encode()
"""The action as it appears in a checkpoint line (a cheap test before parsing one)."""

SEGMENT_RE: Final = re.compile(r"audit-(\d{6})\.jsonl")
CHECKPOINTS: Final = "checkpoints.jsonl"
LOCK: Final = ".lock"

Keys = KeyRing | Ed25519PublicKey | Iterable[Ed25519PublicKey]


def segment_name(index: int) -> str:
    """Return the file name of segment number ``index`` (1-based)."""
    return f"audit-{index:06d}.jsonl"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """List the segment files of an audit directory in order.

    Raises:
        AuditVerificationError: A segment number is missing between the first and the last.
    """
    found = sorted(
        (int(match.group(1)), directory / name)
        for name in os.listdir(directory)
        if (match := SEGMENT_RE.fullmatch(name))
    )
    for position, (index, _path) in enumerate(found, start=found[0][0] if found else 1):
        if index != position:
            raise AuditVerificationError(
                f"{segment_name(position)}: segment missing", segment=segment_name(position)
            )
    if found and found[0][0] != 1:
        raise AuditVerificationError(
            f"{segment_name(1)}: segment missing (the log starts at {found[0][1].name})",
            segment=segment_name(1),
        )
    return found


def iter_lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """Yield ``(lineno, line_without_newline, complete)`` for each line of a file."""
    with path.open("rb") as stream:
        for lineno, line in enumerate(stream, start=1):
            if line.endswith(b"\n"):
                yield lineno, line[:-1], True
            else:
                yield lineno, line, False


def reverse_lines(path: Path, block: int = 1 << 16) -> Iterator[bytes]:
    """Yield the complete lines of a file from the last to the first (without newlines).

    A final line without a newline (a torn write) is skipped.
    """
    with path.open("rb") as stream:
        end = stream.seek(0, os.SEEK_END)
        pending = b""
        torn = True  # until the last newline is found, bytes belong to a torn final line
        while end > 0:
            start = max(0, end - block)
            stream.seek(start)
            parts = (stream.read(end - start) + pending).split(b"\n")
            end = start
            pending, complete = parts[0], parts[1:]
            if torn:
                if not complete:
                    pending = b""
                    continue
                complete, torn = complete[:-1], False
            yield from reversed(complete)
        if not torn:
            yield pending


def last_line(path: Path) -> bytes | None:
    """Return the last complete line of a file, or None when there is none."""
    return next(reverse_lines(path), None)


def load_checkpoints(path: Path) -> list[Checkpoint]:
    """Read signed checkpoints from ``checkpoints.jsonl`` or from a JSON-lines file sink.

    Lines that are not checkpoints (records, in a file sink) are skipped; a final line without a
    newline (a write cut short) is ignored. Signatures are checked by the verifier.

    Raises:
        AuditVerificationError: A complete checkpoint line is malformed.
    """
    if not path.exists():
        return []
    points = []
    for lineno, line, complete in iter_lines(path):
        if not complete or _CHECKPOINT_MARK not in line:
            continue
        try:
            points.append(parse_checkpoint(line))
        except RecordFormatError as exc:
            raise AuditVerificationError(
                f"{path.name}:{lineno}: {exc}", segment=path.name
            ) from None
    return points


def verify_log(
    directory: Path,
    public_keys: Keys,
    since: datetime | None = None,
    *,
    checkpoints: Sequence[Checkpoint] | None = None,
    every_signature: bool = False,
    visit: Callable[[AuditRecord, bytes], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Verify an audit directory: segment links, chain, signatures and checkpoints.

    Args:
        directory: The audit directory (``<state_dir>/audit``).
        public_keys: The trusted public key(s).
        since: Start at the segment that holds this time, trusting its link to the segment
            before (None: verify from the first record).
        checkpoints: Signed checkpoints to hold the log against (e.g. from a sink); by default
            those in ``checkpoints.jsonl``. The latest one detects a truncated tail.
        every_signature: Check each record's signature instead of anchoring (slower, same
            verdict).

    Returns:
        What was verified.

    Raises:
        AuditVerificationError: Naming the first bad record and why.
    """
    if not directory.is_dir():
        raise AuditVerificationError(f"{directory}: no audit log here")
    segments = list_segments(directory)
    if checkpoints is None:
        checkpoints = load_checkpoints(directory / CHECKPOINTS)
    start = _first_segment_for(segments, since) if since else 0
    trust = start > 0
    verifier = ChainVerifier(
        as_keyring(public_keys),
        first_seq=None if trust else 1,
        first_prev=None if trust else "0" * 64,
        every_signature=every_signature,
        checkpoints=checkpoints,
    )
    total = sum(path.stat().st_size for _index, path in segments[start:])
    done = 0
    for position in range(start, len(segments)):
        path = segments[position][1]
        previous = segments[position - 1][1].name if position else None
        verifier.begin_segment(path.name, previous)
        empty = True
        for lineno, line, complete in iter_lines(path):
            empty = False
            if not complete:
                verifier.fail("truncated line (no newline: the segment was cut short)", lineno)
            record = verifier.feed(line, lineno)
            if visit is not None:
                visit(record, line)
        if empty:
            verifier.fail("empty segment (truncated)", 0)
        done += path.stat().st_size
        if progress is not None:
            progress(done, total)
    return verifier.finish()


def _first_segment_for(segments: list[tuple[int, Path]], since: datetime) -> int:
    wanted = format_time(since)
    for position, (_index, path) in enumerate(segments):
        line = last_line(path)
        try:
            time = json.loads(line)["time"] if line else ""
        except (ValueError, KeyError, TypeError):
            return position
        if isinstance(time, str) and time >= wanted:
            return position
    return max(0, len(segments) - 1)


def tail_state(directory: Path) -> tuple[int, str, str] | None:
    """Return ``(seq, chain_hash, segment)`` of the newest complete line, unverified, or None."""
    segments = list_segments(directory)
    for _index, path in reversed(segments):
        line = last_line(path)
        if line is not None:
            try:
                seq = json.loads(line)["seq"]
            except (ValueError, KeyError, TypeError):
                raise AuditVerificationError(
                    f"{path.name}: last line is not a record", segment=path.name
                ) from None
            return int(seq), chain_hash(line), path.name
    return None
