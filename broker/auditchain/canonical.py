"""Canonical JSON encoding, domain-separated hashing and the audit time format."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any, Final

DOMAIN: Final = b"gatehouse.audit.v1\x00"
"""Prefix hashed before a record's canonical bytes, so the hash means nothing elsewhere."""

GENESIS: Final = "0" * 64
"""The ``prev`` of the very first record of a log."""

_TIME_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")

_encoder: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_bytes(value: Any) -> bytes:
    """Encode ``value`` canonically: JSON, sorted keys, no whitespace, UTF-8.

    Args:
        value: JSON-compatible data (str-keyed dicts, lists, str, int, finite float, bool, None).

    Returns:
        The canonical UTF-8 bytes.

    Raises:
        TypeError: A value is not JSON-serialisable.
        ValueError: A float is NaN or infinite.
    """
    return _encoder.encode(value).encode("utf-8")


def chain_hash(canonical: bytes) -> str:
    """Hash a record's canonical bytes (with ``sig``) as the next record's ``prev``.

    Args:
        canonical: The record's canonical encoding, exactly as stored on its line.

    Returns:
        Lower-case hex SHA-256 over :data:`DOMAIN` followed by ``canonical``.
    """
    return hashlib.sha256(DOMAIN + canonical).hexdigest()


def format_time(moment: datetime) -> str:
    """Render ``moment`` as UTC RFC 3339 with microseconds and ``Z``.

    Args:
        moment: An aware datetime (naive ones are taken as UTC).

    Returns:
        e.g. ``"2025-01-31T12:00:00.000000Z"``.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_time() -> str:
    """Return the current UTC time in the audit time format."""
    return format_time(datetime.now(UTC))


def is_audit_time(text: str) -> bool:
    """Tell whether ``text`` is exactly in the audit time format."""
    return _TIME_RE.fullmatch(text) is not None


def parse_time(text: str) -> datetime:
    """Parse an audit time string back to an aware UTC datetime.

    Args:
        text: A string in the audit time format.

    Returns:
        The aware datetime.

    Raises:
        ValueError: ``text`` is not in the audit time format.
    """
    if not is_audit_time(text):
        raise ValueError(f"not an audit time: {text!r}")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
