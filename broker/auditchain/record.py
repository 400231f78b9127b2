"""The audit record and checkpoint values, and their strict parsing from JSON lines."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

from broker.auditchain.canonical import canonical_bytes, chain_hash, is_audit_time
from broker.auditchain.events import Action

_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_HEX16: Final = re.compile(r"[0-9a-f]{16}")
_ACTION: Final = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_*]+)*")
_RECORD_KEYS: Final = frozenset(
    ("seq", "time", "actor", "action", "target", "details", "prev", "key_id", "sig")
)
_CHECKPOINT_KEYS: Final = frozenset(("action", "seq", "hash", "segment", "time", "key_id", "sig"))


class RecordFormatError(ValueError):
    """A line is not a well-formed record or checkpoint; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One signed, chained entry of the audit log."""

    seq: int
    """Position in the log, 1 for the first record, consecutive across segments."""
    time: str
    """When the record was sealed: UTC RFC 3339 with microseconds and ``Z``."""
    actor: str
    """Who acted: a user name, ``"broker"``, or ``"cli:<user>"``."""
    action: str
    """The event kind, one of :class:`broker.auditchain.events.Action` (e.g. ``"command.run"``)."""
    target: str
    """What was acted on: a connection, a session id, a secret name, a file."""
    details: dict[str, Any] = field(hash=False)
    """Event-specific facts; never a secret or a masked value."""
    prev: str
    """Hex chain hash of the previous record (``"0" * 64`` for the first)."""
    key_id: str
    """First 16 hex digits of SHA-256 of the raw Ed25519 public key that signed this record."""
    sig: str = ""
    """Base64 Ed25519 signature over :meth:`unsigned_bytes`; empty before signing."""

    def unsigned_dict(self) -> dict[str, Any]:
        """Return the record as a dict without ``sig`` (what the signature covers)."""
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": self.details,
            "prev": self.prev,
            "key_id": self.key_id,
        }

    def to_dict(self) -> dict[str, Any]:
        """Return the full record as a dict, ``sig`` included."""
        data = self.unsigned_dict()
        data["sig"] = self.sig
        return data

    def unsigned_bytes(self) -> bytes:
        """Return the canonical bytes the signature is made over."""
        return canonical_bytes(self.unsigned_dict())

    def canonical(self) -> bytes:
        """Return the canonical bytes of the full record (its line, without the newline)."""
        return canonical_bytes(self.to_dict())

    def line(self) -> bytes:
        """Return the record as it is stored: canonical bytes and a newline."""
        return self.canonical() + b"\n"

    def hash(self) -> str:
        """Return the chain hash the next record names as its ``prev``."""
        return chain_hash(self.canonical())


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement that the log held record ``seq`` with chain hash ``hash``."""

    seq: int
    """The last record covered."""
    hash: str
    """That record's chain hash."""
    segment: str
    """The segment file holding that record."""
    time: str
    """When the checkpoint was made (audit time format)."""
    key_id: str
    """Id of the signing key."""
    sig: str = ""
    """Base64 Ed25519 signature over :meth:`unsigned_bytes`."""

    def unsigned_dict(self) -> dict[str, Any]:
        """Return the checkpoint as a dict without ``sig``."""
        return {
            "action": Action.AUDIT_CHECKPOINT.value,
            "seq": self.seq,
            "hash": self.hash,
            "segment": self.segment,
            "time": self.time,
            "key_id": self.key_id,
        }

    def unsigned_bytes(self) -> bytes:
        """Return the canonical bytes the signature is made over."""
        return canonical_bytes(self.unsigned_dict())

    def line(self) -> bytes:
        """Return the checkpoint as a stored JSON line with a newline."""
        data = self.unsigned_dict()
        data["sig"] = self.sig
        return canonical_bytes(data) + b"\n"


def _loads(line: bytes) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordFormatError(f"malformed JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RecordFormatError("malformed record: not a JSON object")
    return data


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise RecordFormatError(f"malformed record: {what}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_record(line: bytes) -> AuditRecord:
    """Parse one stored line (without its newline) into an :class:`AuditRecord`.

    The line must be the record's canonical encoding byte for byte, so that any change to it,
    even one JSON would ignore, is caught.

    Args:
        line: The raw bytes of the line.

    Returns:
        The record (not yet verified: check its chain and signature before using it).

    Raises:
        RecordFormatError: The line is not JSON, lacks or adds fields, has wrong types, or is
            not in canonical form.
    """
    data = _loads(line)
    _need(set(data) == _RECORD_KEYS, f"fields are {sorted(data)}")
    seq, time, details = data["seq"], data["time"], data["details"]
    _need(_is_int(seq) and seq >= 1, "seq is not a positive integer")
    _need(isinstance(time, str) and is_audit_time(time), "time is not UTC RFC 3339 with µs")
    for name in ("actor", "action", "target", "prev", "key_id", "sig"):
        _need(isinstance(data[name], str), f"{name} is not a string")
    _need(_ACTION.fullmatch(data["action"]) is not None, "action is not a dotted name")
    _need(isinstance(details, dict), "details is not an object")
    _need(_HEX64.fullmatch(data["prev"]) is not None, "prev is not 64 hex digits")
    _need(_HEX16.fullmatch(data["key_id"]) is not None, "key_id is not 16 hex digits")
    record = AuditRecord(**data)
    if canonical_bytes(data) != line:
        raise RecordFormatError("non-canonical encoding (bytes differ from the canonical form)")
    return record


def checked_details(
    actor: str, action: str, target: str, details: dict[str, Any]
) -> dict[str, Any]:
    """Check the caller-supplied fields of a record before it is sealed.

    Returns:
        A normalised deep copy of ``details`` (tuples become lists), equal to what a reader
        will parse back, so later changes by the caller cannot reach the sealed record.

    Raises:
        ValueError: A field has the wrong type, the action is not a dotted lower-case name, or
            ``details`` cannot be encoded canonically (non-str keys, non-JSON values, NaN,
            lone surrogates).
    """
    for name, value in (("actor", actor), ("action", action), ("target", target)):
        if not isinstance(value, str):
            raise ValueError(f"audit {name} must be a string, not {type(value).__name__}")
    if _ACTION.fullmatch(action) is None:
        raise ValueError(f"audit action {action!r} is not a dotted lower-case name")
    if not isinstance(details, dict):
        raise ValueError("audit details must be a dict")
    _check_keys(details)
    try:
        encoded = canonical_bytes([actor, target, details])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit details cannot be encoded: {exc}") from None
    copy: dict[str, Any] = json.loads(encoded)[2]
    return copy


def _check_keys(value: object) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"audit details keys must be strings, not {key!r}")
            _check_keys(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_keys(item)


def parse_checkpoint(line: bytes) -> Checkpoint:
    """Parse one stored checkpoint line (without its newline).

    Args:
        line: The raw bytes of the line.

    Returns:
        The checkpoint (not yet verified).

    Raises:
        RecordFormatError: The line is not a well-formed checkpoint.
    """
    data = _loads(line)
    _need(set(data) == _CHECKPOINT_KEYS, f"checkpoint fields are {sorted(data)}")
    _need(data["action"] == Action.AUDIT_CHECKPOINT, "not a checkpoint")
    _need(_is_int(data["seq"]) and data["seq"] >= 0, "checkpoint seq is not an integer")
    for name in ("hash", "segment", "time", "key_id", "sig"):
        _need(isinstance(data[name], str), f"checkpoint {name} is not a string")
    _need(_HEX64.fullmatch(data["hash"]) is not None, "checkpoint hash is not 64 hex digits")
    del data["action"]
    return Checkpoint(**data)
