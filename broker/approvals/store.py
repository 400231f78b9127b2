"""Approval requests and grants in SQLite at ``<state_dir>/approvals.sqlite3`` (the store edge).

WAL mode lets every ``--workers`` process read while one writes; each decision runs in a
``BEGIN IMMEDIATE`` transaction that reads, applies the pure state machine and writes, so two
approvers deciding at the same moment (in one process or several) yield one decision. Blocking
sqlite calls run in threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from broker.approvals.core import Grant, Request, Vote, grant_for, refresh

FILENAME = "approvals.sqlite3"
BUSY_TIMEOUT = 10.0
"""Seconds a writer waits for another process's transaction before giving up."""
SWEEP_BATCH = 500
"""Most requests (and grants) one sweep closes: one write transaction stays short."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    requester TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_status ON requests (status, created);
CREATE TABLE IF NOT EXISTS grants (
    request_id TEXT PRIMARY KEY REFERENCES requests (id),
    user TEXT NOT NULL,
    connection TEXT NOT NULL,
    command TEXT,
    rule TEXT NOT NULL,
    start REAL NOT NULL,
    "end" REAL NOT NULL,
    ended INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS grants_user ON grants (user, connection, "end");
CREATE INDEX IF NOT EXISTS grants_open ON grants (ended, "end");
CREATE TABLE IF NOT EXISTS revocations (
    request_id TEXT PRIMARY KEY REFERENCES grants (request_id),
    by TEXT NOT NULL,
    comment TEXT NOT NULL,
    at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Revocation:
    """Who ended a grant before its time, and why."""

    request_id: str
    """The grant's request."""
    by: str
    """Who revoked it."""
    comment: str
    """Why (masked)."""
    at: float
    """When."""


@dataclass(frozen=True)
class Sweep:
    """What one sweep closed: each item is returned to exactly one caller, across processes."""

    expired: tuple[Request, ...]
    """Pending requests that ran out of time."""
    ended: tuple[Grant, ...]
    """Grants whose time is over."""
    full: bool = False
    """The sweep closed as many as it may at once: there may be more."""


def encode(request: Request) -> str:
    return json.dumps(asdict(request), sort_keys=True, separators=(",", ":"))


def decode(body: str) -> Request:
    data: dict[str, Any] = json.loads(body)
    data["approvers"] = tuple(data["approvers"])
    data["votes"] = tuple(Vote(**v) for v in data["votes"])
    return Request(**data)


def _grant(row: sqlite3.Row) -> Grant:
    return Grant(
        request_id=row["request_id"],
        user=row["user"],
        connection=row["connection"],
        command=row["command"],
        rule=row["rule"],
        start=row["start"],
        end=row["end"],
    )


class ApprovalStore:
    """Requests and grants shared by every broker process on one state dir."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> ApprovalStore:
        return cls(state_dir / FILENAME)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the write lock from its first statement."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- blocking calls (run in threads by the async ones below) ---------------

    def create_sync(self, request: Request) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO requests (id, status, requester, created, expires, body)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    request.id,
                    request.status,
                    request.requester,
                    request.created,
                    request.expires,
                    encode(request),
                ),
            )

    def get_sync(self, request_id: str, now: float) -> Request | None:
        with self._db() as db:
            row = db.execute("SELECT body FROM requests WHERE id = ?", (request_id,)).fetchone()
        return None if row is None else refresh(decode(row["body"]), now)

    def update_sync(
        self, request_id: str, change: Callable[[Request], Request], now: float
    ) -> Request:
        """Apply ``change`` (a state-machine step) to the stored request, atomically.

        Raises:
            KeyError: no such request.
            ApprovalError: the step was refused (nothing is written).
        """
        with self._write() as db:
            row = db.execute("SELECT body FROM requests WHERE id = ?", (request_id,)).fetchone()
            if row is None:
                raise KeyError(request_id)
            new = change(refresh(decode(row["body"]), now))
            db.execute(
                "UPDATE requests SET status = ?, body = ? WHERE id = ?",
                (new.status, encode(new), request_id),
            )
            if new.status == "approved":
                grant = grant_for(new)
                db.execute(
                    'INSERT INTO grants (request_id, user, connection, command, rule, start, "end")'
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        grant.request_id,
                        grant.user,
                        grant.connection,
                        grant.command,
                        grant.rule,
                        grant.start,
                        grant.end,
                    ),
                )
        return new

    def pending_sync(self, now: float) -> list[Request]:
        with self._db() as db:
            rows = db.execute(
                "SELECT body FROM requests WHERE status = 'pending' AND expires > ?"
                " ORDER BY created, id",
                (now,),
            ).fetchall()
        return [decode(row["body"]) for row in rows]

    def pending_count_sync(self, requester: str, now: float) -> int:
        with self._db() as db:
            row = db.execute(
                "SELECT count(*) FROM requests WHERE status = 'pending' AND requester = ?"
                " AND expires > ?",
                (requester, now),
            ).fetchone()
        return int(row[0])

    def history_sync(self, limit: int = 200) -> list[Request]:
        """Closed requests, newest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT body FROM requests WHERE status != 'pending' ORDER BY created DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [decode(row["body"]) for row in rows]

    def grant_sync(
        self, user: str, connection: str, command: str | None, now: float
    ) -> Grant | None:
        """An active grant that lets ``user`` open ``connection`` (``command`` for `run`)."""
        with self._db() as db:
            rows = db.execute(
                'SELECT * FROM grants WHERE user = ? AND connection = ? AND start <= ? AND "end" > ?'
                ' ORDER BY "end" DESC',
                (user, connection, now, now),
            ).fetchall()
        for row in rows:
            grant = _grant(row)
            if grant.covers(user, connection, command, now):
                return grant
        return None

    def active_grants_sync(self, now: float) -> list[Grant]:
        """Grants in force at ``now``, the soonest to end first."""
        with self._db() as db:
            rows = db.execute(
                'SELECT * FROM grants WHERE start <= ? AND "end" > ? AND ended = 0'
                ' ORDER BY "end", request_id',
                (now, now),
            ).fetchall()
        return [_grant(row) for row in rows]

    def revoke_sync(self, request_id: str, by: str, comment: str, now: float) -> Grant:
        """End the grant of ``request_id`` at ``now`` (once; it is no longer swept as ended).

        Raises:
            KeyError: no grant of that request is in force.
        """
        with self._write() as db:
            row = db.execute(
                'SELECT * FROM grants WHERE request_id = ? AND ended = 0 AND "end" > ?',
                (request_id, now),
            ).fetchone()
            if row is None:
                raise KeyError(request_id)
            db.execute(
                'UPDATE grants SET "end" = ?, ended = 1 WHERE request_id = ?', (now, request_id)
            )
            db.execute(
                "INSERT INTO revocations (request_id, by, comment, at) VALUES (?, ?, ?, ?)",
                (request_id, by, comment, now),
            )
        return _grant(row)

    def revocation_sync(self, request_id: str) -> Revocation | None:
        with self._db() as db:
            row = db.execute(
                "SELECT * FROM revocations WHERE request_id = ?", (request_id,)
            ).fetchone()
        if row is None:
            return None
        return Revocation(row["request_id"], row["by"], row["comment"], row["at"])

    def next_deadline_sync(self) -> float | None:
        """The soonest moment a pending request expires or a grant in force ends (None: none)."""
        with self._db() as db:
            request = db.execute(
                "SELECT min(expires) FROM requests WHERE status = 'pending'"
            ).fetchone()[0]
            grant = db.execute('SELECT min("end") FROM grants WHERE ended = 0').fetchone()[0]
        found = [t for t in (request, grant) if t is not None]
        return min(found) if found else None

    def sweep_sync(self, now: float, limit: int = SWEEP_BATCH) -> Sweep:
        """Mark overdue pending requests expired and over grants ended (at most ``limit`` of
        each); each is reported once."""
        with self._write() as db:
            rows = db.execute(
                "SELECT body FROM requests WHERE status = 'pending' AND expires <= ?"
                " ORDER BY expires LIMIT ?",
                (now, limit),
            ).fetchall()
            expired = tuple(refresh(decode(row["body"]), now) for row in rows)
            for request in expired:
                db.execute(
                    "UPDATE requests SET status = ?, body = ? WHERE id = ?",
                    (request.status, encode(request), request.id),
                )
            ended = tuple(
                _grant(row)
                for row in db.execute(
                    'SELECT * FROM grants WHERE ended = 0 AND "end" <= ? ORDER BY "end" LIMIT ?',
                    (now, limit),
                ).fetchall()
            )
            db.executemany(
                "UPDATE grants SET ended = 1 WHERE request_id = ?",
                [(g.request_id,) for g in ended],
            )
        return Sweep(expired=expired, ended=ended, full=limit in (len(expired), len(ended)))

    # -- async surface ----------------------------------------------------------

    async def create(self, request: Request) -> None:
        await asyncio.to_thread(self.create_sync, request)

    async def get(self, request_id: str, now: float) -> Request | None:
        return await asyncio.to_thread(self.get_sync, request_id, now)

    async def update(
        self, request_id: str, change: Callable[[Request], Request], now: float
    ) -> Request:
        return await asyncio.to_thread(self.update_sync, request_id, change, now)

    async def pending(self, now: float) -> list[Request]:
        return await asyncio.to_thread(self.pending_sync, now)

    async def pending_count(self, requester: str, now: float) -> int:
        return await asyncio.to_thread(self.pending_count_sync, requester, now)

    async def history(self, limit: int = 200) -> list[Request]:
        return await asyncio.to_thread(self.history_sync, limit)

    async def grant(
        self, user: str, connection: str, command: str | None, now: float
    ) -> Grant | None:
        return await asyncio.to_thread(self.grant_sync, user, connection, command, now)

    async def active_grants(self, now: float) -> list[Grant]:
        return await asyncio.to_thread(self.active_grants_sync, now)

    async def revoke(self, request_id: str, by: str, comment: str, now: float) -> Grant:
        return await asyncio.to_thread(self.revoke_sync, request_id, by, comment, now)

    async def revocation(self, request_id: str) -> Revocation | None:
        return await asyncio.to_thread(self.revocation_sync, request_id)

    async def sweep(self, now: float) -> Sweep:
        return await asyncio.to_thread(self.sweep_sync, now)

    async def next_deadline(self) -> float | None:
        return await asyncio.to_thread(self.next_deadline_sync)
