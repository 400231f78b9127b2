"""The vault: round trip, wrong key and tampering fail loudly, the secret never shows itself."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import pytest

from broker.common.errors import VaultError
from broker.vault import Secret, Vault, create_key

PLANTED = b"hunter2-planted-7f3a9c"


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    create_key(tmp_path / "vault.key")
    return Vault(tmp_path / "vault", tmp_path / "vault.key")


def test_round_trip(vault: Vault) -> None:
    vault.set("web-1", PLANTED)
    assert vault.get("web-1").reveal() == PLANTED
    assert vault.has("web-1")


def test_file_is_encrypted_and_private(vault: Vault, tmp_path: Path) -> None:
    vault.set("web-1", PLANTED)
    blob = (tmp_path / "vault" / "web-1.secret").read_bytes()
    assert PLANTED not in blob
    assert stat.S_IMODE(os.stat(tmp_path / "vault" / "web-1.secret").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "vault.key").st_mode) == 0o600


def test_wrong_key_fails_loudly(vault: Vault, tmp_path: Path) -> None:
    vault.set("web-1", PLANTED)
    create_key(tmp_path / "other.key")
    other = Vault(tmp_path / "vault", tmp_path / "other.key")
    with pytest.raises(VaultError, match="wrong vault key or tampered") as info:
        other.get("web-1")
    assert PLANTED.decode() not in str(info.value)


def test_tampered_file_fails(vault: Vault, tmp_path: Path) -> None:
    vault.set("web-1", PLANTED)
    path = tmp_path / "vault" / "web-1.secret"
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(VaultError, match="tampered"):
        vault.get("web-1")


def test_swapped_files_fail(vault: Vault, tmp_path: Path) -> None:
    vault.set("a", b"secret-a")
    vault.set("b", b"secret-b")
    d = tmp_path / "vault"
    (d / "a.secret").write_bytes((d / "b.secret").read_bytes())
    with pytest.raises(VaultError):
        vault.get("a")


@pytest.mark.parametrize("name", ["../etc/passwd", "", "a/b", ".hidden", "x" * 65])
def test_bad_names_refused(vault: Vault, name: str) -> None:
    with pytest.raises(VaultError, match="invalid credential name"):
        vault.set(name, b"x")


def test_missing_and_empty(vault: Vault) -> None:
    with pytest.raises(VaultError, match="no credential named 'nope'"):
        vault.get("nope")
    with pytest.raises(VaultError, match="empty"):
        vault.set("x", b"  \n")


def test_short_key_file(tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(b"short")
    with pytest.raises(VaultError, match="32-byte"):
        Vault(tmp_path / "v", tmp_path / "k").set("x", b"y")


def test_secret_never_shows_itself() -> None:
    secret = Secret(PLANTED)
    for text in (repr(secret), str(secret), f"{secret}", repr([secret])):
        assert PLANTED.decode() not in text
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    assert Secret(b"-----BEGIN OPENSSH PRIVATE KEY-----\n").is_private_key
    assert not secret.is_private_key
    assert Secret(b"pw\n").reveal_text() == "pw"


def test_create_key_refuses_overwrite(tmp_path: Path) -> None:
    create_key(tmp_path / "k")
    with pytest.raises(FileExistsError):
        create_key(tmp_path / "k")
