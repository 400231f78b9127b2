"""Reading recent records back with filters and a per-record verification status (audit pane)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from broker.auditchain.canonical import chain_hash, format_time
from broker.auditchain.record import AuditRecord, RecordFormatError, parse_record
from broker.auditchain.signing import SignatureError, as_keyring
from broker.auditlog.segments import Keys, list_segments, reverse_lines

_RELATIVE = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """Parse a time bound: RFC 3339 / ISO 8601 (naive means UTC), a date, ``now`` or ``7d`` ago.

    Raises:
        ValueError: Not a time (the message quotes ``text`` and gives examples).
    """
    now = now or datetime.now(UTC)
    if text == "now":
        return now
    if match := _RELATIVE.fullmatch(text):
        try:
            return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError as exc:
            raise ValueError(str(exc)) from None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r}: expected e.g. 2025-01-31, 2025-01-31T12:00:00Z, 24h or 7d"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RecordView:
    """A record as read back, with what checking it alone and against its neighbour found."""

    record: AuditRecord | None
    """The parsed record, None when the line does not parse."""
    line: bytes
    """The stored line."""
    segment: str
    """The segment file it was read from."""
    ok: bool
    """True when its signature verifies and its ``prev`` is the hash of the line before it."""
    status: str
    """``"verified"``, or why not (``"bad signature"``, ``"broken chain"``, ``"malformed …"``)."""


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which records to show; empty fields match everything."""

    actor: str = ""
    """Exact actor (user)."""
    action: str = ""
    """The start of the action name: ``"recording"`` matches ``"recording.closed"``."""
    target: str = ""
    """Exact target (connection, session, secret)."""
    since: datetime | None = None
    """Earliest time, inclusive."""
    until: datetime | None = None
    """Latest time, inclusive."""

    def matches(self, record: AuditRecord) -> bool:
        """Tell whether ``record`` passes the filter."""
        if self.actor and record.actor != self.actor:
            return False
        if self.action and not record.action.startswith(self.action):
            return False
        if self.target and record.target != self.target:
            return False
        if self.since is not None and record.time < format_time(self.since):
            return False
        return self.until is None or record.time <= format_time(self.until)


def read_recent(
    directory: Path,
    public_keys: Keys,
    limit: int = 200,
    where: RecordFilter | None = None,
    *,
    scan_limit: int = 1_000_000,
) -> list[RecordView]:
    """Return up to ``limit`` of the newest records that match ``where``, oldest first.

    Each record's signature is checked, and its ``prev`` against the line before it; a full
    verification of the log is :func:`broker.auditlog.segments.verify_log`.

    Args:
        directory: The audit directory.
        public_keys: Trusted public key(s).
        limit: Most records to return.
        where: Filter (None: everything).
        scan_limit: Most lines to read back before giving up on finding more matches.
    """
    keys = as_keyring(public_keys)
    where = where or RecordFilter()
    found: list[RecordView] = []
    newer: tuple[bytes, str, AuditRecord | None, str] | None = None
    scanned = 0
    for _index, path in reversed(list_segments(directory)):
        for line in reverse_lines(path):
            if newer is not None:
                found += _view(newer, chain_hash(line), keys, where)
                if len(found) >= limit:
                    return found[::-1]
            newer = (line, path.name, *_parse(line))
            scanned += 1
            if scanned > scan_limit:
                return found[::-1]
    if newer is not None:
        found += _view(newer, "0" * 64, keys, where)
    return found[::-1][-limit:] if limit else []


def _parse(line: bytes) -> tuple[AuditRecord | None, str]:
    try:
        return parse_record(line), ""
    except RecordFormatError as exc:
        return None, str(exc)


def _view(
    item: tuple[bytes, str, AuditRecord | None, str],
    older_hash: str,
    keys: Keys,
    where: RecordFilter,
) -> list[RecordView]:
    line, segment, record, problem = item
    if record is None:
        return [RecordView(None, line, segment, False, problem)]
    if not where.matches(record):
        return []
    status = "verified"
    try:
        as_keyring(keys).verify_record(record)
        if record.prev != older_hash:
            status = "broken chain: prev is not the hash of the record before"
    except SignatureError as exc:
        status = str(exc)
    return [RecordView(record, line, segment, status == "verified", status)]
