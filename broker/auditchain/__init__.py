"""The audit core: event kinds, canonical records, chaining, signing and verification (no I/O)."""

from __future__ import annotations

from broker.auditchain.canonical import GENESIS, canonical_bytes, chain_hash, format_time, now_time
from broker.auditchain.events import Action, table_for
from broker.auditchain.record import AuditRecord, Checkpoint, RecordFormatError, parse_record
from broker.auditchain.signing import KeyRing, SignatureError, Signer, fingerprint, key_id_for
from broker.auditchain.verify import ChainVerifier, VerifyReport

__all__ = [
    "GENESIS",
    "Action",
    "AuditRecord",
    "ChainVerifier",
    "Checkpoint",
    "KeyRing",
    "RecordFormatError",
    "SignatureError",
    "Signer",
    "VerifyReport",
    "canonical_bytes",
    "chain_hash",
    "fingerprint",
    "format_time",
    "key_id_for",
    "now_time",
    "parse_record",
    "table_for",
]
