"""Ed25519 sealing of records and checkpoints, and the key ring verification trusts."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from broker.auditchain.canonical import now_time
from broker.auditchain.record import AuditRecord, Checkpoint


def raw_public_bytes(key: Ed25519PublicKey) -> bytes:
    """Return the 32 raw bytes of an Ed25519 public key."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_for(key: Ed25519PublicKey) -> str:
    """Return the key id: the first 16 hex digits of SHA-256 of the raw public key."""
    return hashlib.sha256(raw_public_bytes(key)).hexdigest()[:16]


def fingerprint(key: Ed25519PublicKey) -> str:
    """Return the full fingerprint ``SHA256:<hex>`` of the raw public key, for people to compare."""
    return "SHA256:" + hashlib.sha256(raw_public_bytes(key)).hexdigest()


class Signer:
    """Seals records and checkpoints with one Ed25519 private key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        """Wrap ``key``.

        Args:
            key: The audit signing key.
        """
        self._key = key
        self.public_key = key.public_key()
        self.key_id = key_id_for(self.public_key)

    def seal(
        self,
        *,
        seq: int,
        actor: str,
        action: str,
        target: str,
        details: dict[str, Any],
        prev: str,
        time: str | None = None,
    ) -> AuditRecord:
        """Build and sign the record that follows a record whose chain hash is ``prev``.

        Args:
            seq: The record's position.
            actor: Who acted.
            action: The event kind.
            target: What was acted on.
            details: Event facts (JSON-compatible; never secrets).
            prev: Chain hash of the previous record.
            time: Audit time; now if omitted.

        Returns:
            The signed record.
        """
        record = AuditRecord(
            seq=seq,
            time=time or now_time(),
            actor=actor,
            action=action,
            target=target,
            details=details,
            prev=prev,
            key_id=self.key_id,
        )
        return replace(record, sig=self._sign(record.unsigned_bytes()))

    def checkpoint(self, *, seq: int, hash_: str, segment: str) -> Checkpoint:
        """Sign a checkpoint stating that record ``seq`` has chain hash ``hash_``."""
        point = Checkpoint(
            seq=seq, hash=hash_, segment=segment, time=now_time(), key_id=self.key_id
        )
        return replace(point, sig=self._sign(point.unsigned_bytes()))

    def _sign(self, data: bytes) -> str:
        return base64.b64encode(self._key.sign(data)).decode("ascii")


class SignatureError(ValueError):
    """A signature does not verify; the message says why (unknown key or bad signature)."""


class KeyRing(Mapping[str, Ed25519PublicKey]):
    """The public keys a verifier trusts, by key id (several while keys rotate)."""

    def __init__(self, keys: Iterable[Ed25519PublicKey]) -> None:
        """Trust each of ``keys``.

        Args:
            keys: Ed25519 public keys.
        """
        self._keys = {key_id_for(key): key for key in keys}

    def __getitem__(self, key_id: str) -> Ed25519PublicKey:
        return self._keys[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def verify(self, key_id: str, sig: str, data: bytes) -> None:
        """Check that ``sig`` is the signature of ``data`` by the key named ``key_id``.

        Raises:
            SignatureError: The key is unknown or the signature does not verify.
        """
        key = self._keys.get(key_id)
        if key is None:
            raise SignatureError(f"unknown key {key_id}")
        try:
            raw = base64.b64decode(sig.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise SignatureError("bad signature (not base64)") from None
        if len(raw) != 64:
            raise SignatureError("bad signature (not 64 bytes)")
        try:
            key.verify(raw, data)
        except InvalidSignature:
            raise SignatureError("bad signature") from None

    def verify_record(self, record: AuditRecord) -> None:
        """Check a record's signature (see :meth:`verify`)."""
        self.verify(record.key_id, record.sig, record.unsigned_bytes())

    def verify_checkpoint(self, point: Checkpoint) -> None:
        """Check a checkpoint's signature (see :meth:`verify`)."""
        self.verify(point.key_id, point.sig, point.unsigned_bytes())


def as_keyring(keys: KeyRing | Ed25519PublicKey | Iterable[Ed25519PublicKey]) -> KeyRing:
    """Accept one key, several keys or a ring, and return a ring."""
    if isinstance(keys, KeyRing):
        return keys
    if isinstance(keys, Ed25519PublicKey):
        return KeyRing([keys])
    return KeyRing(keys)
