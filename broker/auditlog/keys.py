"""Audit signing key files: generate (0600 PEM), load, and export the public half."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from broker.common.errors import GatehouseError

PRIVATE_NAME = "audit_ed25519"
PUBLIC_NAME = "audit_ed25519.pub"


def key_paths(state_dir: Path) -> tuple[Path, Path]:
    """Return the private and public audit key paths under ``<state_dir>/keys/``."""
    keys = state_dir / "keys"
    return keys / PRIVATE_NAME, keys / PUBLIC_NAME


def public_pem(key: Ed25519PublicKey) -> bytes:
    """Return ``key`` as a SubjectPublicKeyInfo PEM."""
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def generate_signing_key(path: Path) -> Ed25519PrivateKey:
    """Create a new Ed25519 audit key at ``path`` (PEM, mode 0600) and its ``.pub`` beside it.

    Args:
        path: Where to write the private key; refuses to overwrite an existing file.

    Returns:
        The new private key.

    Raises:
        GatehouseError: ``path`` already exists.
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise GatehouseError(f"{path}: audit signing key already exists") from None
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    pub = path.with_name(path.name + ".pub")
    pub.write_bytes(public_pem(key.public_key()))
    return key


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from a PEM file.

    Raises:
        GatehouseError: The file is missing, unreadable or not an Ed25519 private key.
    """
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise GatehouseError(f"{path}: cannot load the audit signing key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise GatehouseError(f"{path}: not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Load an Ed25519 public key from a PEM file.

    Raises:
        GatehouseError: The file is missing, unreadable or not an Ed25519 public key.
    """
    return parse_public_key(_read(path), str(path))


def parse_public_key(pem: bytes, where: str = "public key") -> Ed25519PublicKey:
    """Parse an Ed25519 public key from PEM bytes.

    Raises:
        GatehouseError: The bytes are not an Ed25519 public key.
    """
    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise GatehouseError(f"{where}: cannot load the audit public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise GatehouseError(f"{where}: not an Ed25519 public key")
    return key


def load_state_public_key(state_dir: Path) -> Ed25519PublicKey:
    """Load the audit public key of a state dir (``.pub``, else derived from the private key)."""
    private, public = key_paths(state_dir)
    if public.exists():
        return load_public_key(public)
    return load_signing_key(private).public_key()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise GatehouseError(f"{path}: cannot read: {exc.strerror}") from None
