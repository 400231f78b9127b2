"""SSH keys bound to an IdP identity for a period: records (pure) and their file in the state dir."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from broker.common.errors import GatehouseError

MAX_ENROLMENTS = 100_000


@dataclass(frozen=True)
class Enrolment:
    """One key bound to one person until ``expires_at``."""

    id: str
    """Short random id (what `gatehouse keys revoke` takes)."""
    user: str
    """SSH login name."""
    fingerprint: str
    """SHA256 fingerprint of the bound public key."""
    issuer: str
    subject: str
    groups: tuple[str, ...]
    """Broker groups at enrolment (refreshed at each login where a refresh token exists)."""
    enrolled_at: float
    expires_at: float
    refreshable: bool = False
    """A refresh token is kept in the vault (``idp-refresh.<id>``) to re-check the IdP at login."""

    @property
    def vault_name(self) -> str:
        return f"idp-refresh.{self.id}"


def new_id() -> str:
    return secrets.token_hex(6)


def parse_enrolments(data: object) -> list[Enrolment]:
    """Records from the file's JSON; a malformed record is dropped (fail closed: not enrolled)."""
    items = data.get("enrolments") if isinstance(data, dict) else None
    found: list[Enrolment] = []
    for item in items if isinstance(items, list) else []:
        try:
            found.append(_record(item))
        except (TypeError, ValueError, KeyError):
            continue
    return found[:MAX_ENROLMENTS]


def _record(item: Any) -> Enrolment:
    groups = item["groups"]
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ValueError("groups")
    fields = ("id", "user", "fingerprint", "issuer", "subject")
    if not all(isinstance(item[name], str) and item[name] for name in fields):
        raise ValueError("fields")
    return Enrolment(
        **{name: item[name] for name in fields},
        groups=tuple(groups),
        enrolled_at=float(item["enrolled_at"]),
        expires_at=float(item["expires_at"]),
        refreshable=item.get("refreshable") is True,
    )


class EnrolmentStore:
    """``identity/enrolments.json`` (0600), rewritten atomically under an exclusive lock."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "identity"
        self.path = self.directory / "enrolments.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.directory / "enrolments.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> list[Enrolment]:
        try:
            return parse_enrolments(json.loads(self.path.read_bytes()))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise GatehouseError(f"cannot read {self.path}: {exc}") from None

    def _write(self, records: list[Enrolment]) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"enrolments": [asdict(r) for r in records]}, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def all(self) -> list[Enrolment]:
        """Every record, expired ones included."""
        with self._locked():
            return self._read()

    def find(self, user: str, fingerprint: str, now: float) -> Enrolment | None:
        """The live enrolment of this user's key, if any."""
        for record in self.all():
            if (record.user, record.fingerprint) == (user, fingerprint) and now < record.expires_at:
                return record
        return None

    def put(self, record: Enrolment) -> list[Enrolment]:
        """Store ``record``, replacing any of the same user and key; returns those replaced."""
        with self._locked():
            records = self._read()
            replaced = [
                r for r in records if (r.user, r.fingerprint) == (record.user, record.fingerprint)
            ]
            kept = [r for r in records if r not in replaced]
            self._write([*kept, record])
            return replaced

    def remove(self, key: str) -> list[Enrolment]:
        """Remove records whose id, user or fingerprint is ``key``; returns the removed ones."""
        with self._locked():
            records = self._read()
            gone = [r for r in records if key in (r.id, r.user, r.fingerprint)]
            if gone:
                self._write([r for r in records if r not in gone])
            return gone
