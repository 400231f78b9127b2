"""The vault: credentials encrypted with AES-256-GCM under a key file in the state dir."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker.common.errors import VaultError
from broker.vault.secret import Secret

MAGIC = b"GHV1"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_SECRET = 64 * 1024


def create_key(path: Path) -> None:
    """Write a fresh 256-bit vault key to ``path`` with mode 0600 (refuses to overwrite)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))


class Vault:
    """Encrypted credentials, one file per name under ``directory``."""

    def __init__(self, directory: Path, key_path: Path) -> None:
        self.directory = directory
        self._key_path = key_path
        self._aead: AESGCM | None = None

    def _cipher(self) -> AESGCM:
        if self._aead is None:
            try:
                key = self._key_path.read_bytes()
            except OSError as exc:
                raise VaultError(
                    f"cannot read vault key {self._key_path}: {exc.strerror}"
                ) from None
            if len(key) != 32:
                raise VaultError(f"vault key {self._key_path} is not a 32-byte key")
            self._aead = AESGCM(key)
        return self._aead

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise VaultError(f"invalid credential name {name!r}")
        return self.directory / f"{name}.secret"

    def set(self, name: str, value: bytes) -> None:
        """Encrypt and store ``value`` under ``name`` (atomically replacing an old one)."""
        if not value.strip():
            raise VaultError("refusing to store an empty credential")
        if len(value) > MAX_SECRET:
            raise VaultError(f"credential too large (more than {MAX_SECRET} bytes)")
        path = self._path(name)
        nonce = secrets.token_bytes(12)
        blob = MAGIC + nonce + self._cipher().encrypt(nonce, value, name.encode())
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def get(self, name: str) -> Secret:
        """Decrypt the credential ``name``.

        Raises:
            VaultError: missing, corrupt, or encrypted under another key.
        """
        path = self._path(name)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise VaultError(
                f"no credential named {name!r} in the vault (gatehouse secret set {name})"
            ) from None
        except OSError as exc:
            raise VaultError(f"cannot read credential {name!r}: {exc.strerror}") from None
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 12 + 16:
            raise VaultError(f"credential {name!r} is not a vault file")
        nonce = blob[len(MAGIC) : len(MAGIC) + 12]
        try:
            value = self._cipher().decrypt(nonce, blob[len(MAGIC) + 12 :], name.encode())
        except InvalidTag:
            raise VaultError(
                f"credential {name!r} cannot be decrypted: wrong vault key or tampered file"
            ) from None
        return Secret(value)

    def has(self, name: str) -> bool:
        """Whether a credential named ``name`` is stored."""
        return self._path(name).exists()
