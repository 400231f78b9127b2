"""PostgreSQL targets: asyncpg with the vault credential, one statement at a time, rows as text.

Every statement goes through the extended protocol (one statement per message, never a string
the server would split). Rows come from a server-side cursor in pages and as PostgreSQL's own
text form: a statement that can be wrapped is run as ``SELECT q.c1::text, … FROM (stmt) q``, so
what the user sees is what psql prints. On a read-only connection each statement runs in its own
``BEGIN READ ONLY`` transaction that is rolled back afterwards, on a session whose
``default_transaction_read_only`` is on: `SET`, `BEGIN READ WRITE` or `set_config` inside one
statement cannot make the next one writable.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg.exceptions import InternalClientError

from broker.common.errors import UpstreamError
from broker.config.model import Connection
from broker.sql.classify import classify
from broker.upstream.pgcopy import CopyFormatError, copy_query
from broker.upstream.pgstream import PageHandler, Sink, read_ahead
from broker.vault import Secret

CONNECT_TIMEOUT = 10.0
STATEMENT_TIMEOUT = 300.0
PAGE_ROWS = 1000
STREAM_CHUNK = 512 * 1024
"""Bytes of COPY text gathered before they are handed on as one page of rows (streaming)."""

Cell = str | None
Row = tuple[Cell, ...]
OnColumns = Callable[[Sequence[str], Sequence[str]], Awaitable[None]]
"""Called with the column names and their type names before the first page."""
OnRows = Callable[[Sequence[Row]], Awaitable[None]]


@dataclass(frozen=True)
class Outcome:
    """What one statement did."""

    status: str
    """The server's command tag: `SELECT 3`, `INSERT 0 1`, `SET`…"""
    rows: int
    """Rows returned, or affected (from the command tag) when none were returned."""
    columns: tuple[str, ...] = ()


class SqlError(UpstreamError):
    """The database refused or failed a statement; the message is the server's."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        self.position = position
        super().__init__(message)


class PgSession:
    """One asyncpg connection to a postgres connection, opened with the vault credential."""

    def __init__(self, conn: Connection, db: asyncpg.Connection, *, read_only: bool) -> None:
        self.conn = conn
        self.db = db
        self.read_only = read_only

    @classmethod
    async def open(
        cls,
        conn: Connection,
        secret: Secret,
        *,
        read_only: bool,
        statement_timeout: float = STATEMENT_TIMEOUT,
    ) -> PgSession:
        """Connect as the connection's login user.

        Raises:
            UpstreamError: unreachable, refused, or the credential was rejected.
        """
        settings = {
            "application_name": "gatehouse",
            "statement_timeout": str(int(statement_timeout * 1000)),
        }
        if read_only:
            settings["default_transaction_read_only"] = "on"
        try:
            db = await asyncpg.connect(
                host=conn.host,
                port=conn.port,
                user=conn.user,
                password=secret.reveal_text(),
                database=conn.database,
                timeout=CONNECT_TIMEOUT,
                server_settings=settings,
                statement_cache_size=0,
                ssl=False if conn.host in ("127.0.0.1", "::1", "localhost") else "prefer",
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise UpstreamError(f"{conn.name}: cannot connect: {_message(exc)}") from None
        return cls(conn, db, read_only=read_only)

    async def close(self) -> None:
        """Close the connection; one that does not close cleanly (a cancelled statement) is cut."""
        try:
            await self.db.close(timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self.db.terminate()

    async def run(
        self,
        text: str,
        *,
        wrappable: bool,
        on_columns: OnColumns,
        on_rows: OnRows,
        page_rows: int = PAGE_ROWS,
        stream: bool = False,
        on_page: PageHandler[Any] | None = None,
    ) -> Outcome:
        """Run one statement, handing its rows over page by page as text.

        ``wrappable`` says the classifier found a SELECT, INSERT, UPDATE or DELETE with nothing
        nested that writes, whose columns may be turned into text on the server. With
        ``stream``, a plain read is sent as ``COPY (…) TO STDOUT`` and its rows handed over in
        pages of about STREAM_CHUNK bytes as they arrive (the whole result is read: for output
        that goes out as fast as the client takes it, not for paging on demand); those pages go
        to ``on_page`` a column at a time when it is given (its ``work`` in a worker thread, no
        rows are built), else to ``on_rows``.

        Raises:
            SqlError: the server refused or failed it (its message, with the position if any).
        """
        try:
            if self.read_only:
                await self.db.execute("BEGIN READ ONLY")
                try:
                    return await self._run(
                        text, wrappable, on_columns, on_rows, page_rows, stream, on_page
                    )
                finally:
                    await self._rollback()
            return await self._run(text, wrappable, on_columns, on_rows, page_rows, stream, on_page)
        except asyncpg.PostgresError as exc:
            position = getattr(exc, "position", None)
            raise SqlError(_message(exc), position=int(position) if position else None) from None
        except (OSError, asyncpg.InterfaceError, CopyFormatError) as exc:
            raise UpstreamError(f"{self.conn.name}: {_message(exc)}") from None

    async def _rollback(self) -> None:
        """End the statement's read-only transaction (its COMMIT only warns). A connection left
        mid-operation (a COPY or a fetch cut off by a cancelled task) cannot; it is cut, and the
        server rolls back."""
        if self.db.is_closed():
            return
        try:
            await self.db.execute("ROLLBACK")
        except (asyncpg.PostgresError, asyncpg.InterfaceError, InternalClientError):
            self.db.terminate()

    async def _run(
        self,
        text: str,
        wrappable: bool,
        on_columns: OnColumns,
        on_rows: OnRows,
        page_rows: int,
        stream: bool,
        on_page: PageHandler[Any] | None = None,
    ) -> Outcome:
        stmt = await self.db.prepare(text)
        attributes = stmt.get_attributes()
        if not attributes:
            await stmt.fetch()
            status = stmt.get_statusmsg() or ""
            return Outcome(status=status, rows=_affected(status))
        names = tuple(a.name for a in attributes)
        await on_columns(names, tuple(a.type.name for a in attributes))
        copy = copy_query(text) if stream and wrappable and _is_read(text) else ""
        if copy:
            count = await self._copy(copy, len(names), on_page or _as_rows(on_rows))
            return Outcome(status=f"SELECT {count}", rows=count, columns=names)
        composite = [a.type.kind == "composite" for a in attributes]
        wrapped = text_query(text, composite) if wrappable else ""
        as_text = bool(wrapped)
        if wrapped:
            stmt = await self.db.prepare(wrapped)
        count = 0
        if self.db.is_in_transaction():
            count = await self._pages(stmt, as_text, on_rows, page_rows)
        else:
            async with self.db.transaction():
                count = await self._pages(stmt, as_text, on_rows, page_rows)
        verb = text.split(None, 1)[0].upper() if text.split() else "SELECT"
        verb = "SELECT" if verb in ("VALUES", "TABLE", "WITH") else verb
        return Outcome(status=f"{verb} {count}", rows=count, columns=names)

    async def _copy(self, query: str, columns: int, on_page: PageHandler[Any]) -> int:
        async def copy(sink: Sink) -> object:
            return await self.db.copy_from_query(query, output=sink, format="text")

        return await read_ahead(copy, columns, on_page, STREAM_CHUNK)

    async def _pages(
        self,
        stmt: asyncpg.prepared_stmt.PreparedStatement,
        as_text: bool,
        on_rows: OnRows,
        page_rows: int,
    ) -> int:
        cursor = await stmt.cursor()
        count = 0
        while True:
            records = await cursor.fetch(page_rows)
            if not records:
                return count
            if as_text:
                page = [tuple(r) for r in records]
            else:
                page = [tuple(pg_text(v) for v in r) for r in records]
            count += len(page)
            await on_rows(page)


def _as_rows(on_rows: OnRows) -> PageHandler[list[Row]]:
    """Pages handed to ``on_rows`` as rows (turned in the worker thread)."""

    def rows(columns: Sequence[Sequence[Cell]]) -> list[Row]:
        return list(zip(*columns, strict=True))

    async def emit(page: list[Row], _count: int) -> None:
        await on_rows(page)

    return PageHandler(rows, emit)


def text_query(text: str, composite: Sequence[bool]) -> str:
    """``text`` with every column in its output function's text form (what psql prints), or
    empty when the wrapped form is not exactly the one statement, plain or with RETURNING (then
    rows are converted here).

    ``format('%s', …)`` calls the output function (a cast to text does not for boolean, inet or
    char(n)); a row value is cast, as `IS NULL` on a row is true when its fields are all NULL.
    """
    aliases = ", ".join(f"c{i}" for i in range(len(composite)))
    casts = ", ".join(
        f"q.c{i}::text"
        if row
        else f"CASE WHEN q.c{i} IS NULL THEN NULL ELSE format('%s', q.c{i}) END"
        for i, row in enumerate(composite)
    )
    own = classify(text)
    if own.refusal or len(own.statements) != 1:
        return ""
    verb = own.statements[0].verb
    if verb == "select":  # the user's own, classified statement, below and in the CTE
        wrapped = f"SELECT {casts} FROM (\n{text}\n) AS q({aliases})"  # noqa: S608
    elif verb in ("insert", "update", "delete"):  # RETURNING: a top-level CTE runs it once, fully
        wrapped = f"WITH q({aliases}) AS (\n{text}\n) SELECT {casts} FROM q"  # noqa: S608
    else:
        return ""
    check = classify(wrapped)
    expected = "select:read" if verb == "select" else "select:write"
    if (
        check.refusal
        or check.summary != expected
        or check.statements[0].verbs != own.statements[0].verbs | {"select"}
    ):
        return ""
    return wrapped


def _is_read(text: str) -> bool:
    own = classify(text)
    return not own.refusal and len(own.statements) == 1 and own.summary == "select:read"


def _affected(status: str) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def pg_text(value: Any) -> Cell:
    """A decoded value back in PostgreSQL's text form (for rows that could not be cast)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return "{" + ",".join(_array_item(v) for v in value) + "}"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _array_item(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list | tuple):
        return pg_text(value) or "{}"
    text = pg_text(value) or ""
    plain = text and text.upper() != "NULL" and not any(c in text for c in '{},"\\ \t\n')
    return text if plain else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
