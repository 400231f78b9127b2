"""A result kept on the server for the SQL console: a SCROLL cursor read a window at a time.

The console shows results of any size without holding them: a plain SELECT is declared as a
server-side ``SCROLL`` cursor over its text form (:func:`~broker.upstream.postgres.text_query`)
and the pane asks for the rows it is about to show (``MOVE ABSOLUTE`` + ``FETCH FORWARD``), so
the broker holds a page or two whatever the size, and scrolling back re-reads from the server.
A cursor lives in a transaction: outside the user's own one, the console opens one for it
(``BEGIN``, or ``BEGIN READ ONLY`` on a read-only connection) and ends it when the result is
closed (the next statement, or the pane). Everything else is run by :meth:`PgSession.run`.
"""

from __future__ import annotations

import asyncpg

from broker.common.errors import UpstreamError
from broker.upstream.postgres import PgSession, Row, SqlError, text_query


class ScrollResult:
    """Rows of one SELECT held on the server; read any window of them."""

    def __init__(
        self,
        session: PgSession,
        name: str,
        columns: tuple[str, ...],
        types: tuple[str, ...],
        *,
        own_transaction: bool,
    ) -> None:
        self.session = session
        self.name = name
        self.columns = columns
        self.types = types
        self.own_transaction = own_transaction
        """The console began the transaction the cursor lives in (it ends it on close)."""
        self.total: int | None = None
        """How many rows there are, once the end was read (or counted)."""
        self._position = 0
        """The cursor's position: the number of the last row read (0: before the first)."""
        self.closed = False

    @classmethod
    async def declare(cls, session: PgSession, text: str, name: str) -> ScrollResult | None:
        """Declare ``text`` (a classified plain SELECT) as a scroll cursor named ``name``.

        Returns None when it cannot be (no columns, or its text form is not exactly the one
        statement): run it with :meth:`PgSession.run` then.

        Raises:
            SqlError: the server refused it (with the position in ``text``).
        """
        db = session.db
        own = not db.is_in_transaction()
        try:
            stmt = await db.prepare(text)  # errors point into the user's own text
            attributes = stmt.get_attributes()
            wrapped = text_query(text, [a.type.kind == "composite" for a in attributes])
            if not attributes or not wrapped:
                return None
            if own:
                await db.execute("BEGIN READ ONLY" if session.read_only else "BEGIN")
            try:
                await db.execute(f"DECLARE {name} SCROLL CURSOR WITHOUT HOLD FOR {wrapped}")
            except BaseException:
                if own and not db.is_closed():
                    await db.execute("ROLLBACK")
                raise
        except asyncpg.PostgresError as exc:
            position = getattr(exc, "position", None)
            raise SqlError(_message(exc), position=int(position) if position else None) from None
        except (OSError, asyncpg.InterfaceError) as exc:
            raise UpstreamError(f"{session.conn.name}: {_message(exc)}") from None
        columns = tuple(a.name for a in attributes)
        return cls(
            session, name, columns, tuple(a.type.name for a in attributes), own_transaction=own
        )

    async def rows(self, start: int, count: int) -> list[Row]:
        """Rows ``start`` (0-based) to ``start + count`` (fewer at the end).

        Raises:
            SqlError: the server failed while producing them (e.g. a division by zero).
        """
        db = self.session.db
        try:
            if self._position != start:
                await db.execute(f"MOVE ABSOLUTE {int(start)} IN {self.name}")
            records = await db.fetch(f"FETCH FORWARD {int(count)} FROM {self.name}")
        except asyncpg.PostgresError as exc:
            raise SqlError(_message(exc)) from None
        except (OSError, asyncpg.InterfaceError) as exc:
            raise UpstreamError(f"{self.session.conn.name}: {_message(exc)}") from None
        self._position = start + len(records)
        if len(records) < count:
            self.total = start + len(records)
        return [tuple(r) for r in records]

    async def count(self) -> int:
        """Count every row (reads them all on the server, none here).

        Raises:
            SqlError: the server failed while producing them.
        """
        if self.total is None:
            try:
                status = await self.session.db.execute(f"MOVE FORWARD ALL IN {self.name}")
            except asyncpg.PostgresError as exc:
                raise SqlError(_message(exc)) from None
            moved = status.rsplit(" ", 1)[-1]
            self.total = self._position + (int(moved) if moved.isdigit() else 0)
            self._position = self.total + 1  # after the last row
        return self.total

    async def close(self) -> None:
        """Close the cursor, and the transaction the console opened for it (committed, as
        autocommit would have; rolled back on a read-only connection or after an error)."""
        if self.closed:
            return
        self.closed = True
        db = self.session.db
        if db.is_closed():
            return
        try:
            if self.own_transaction:
                failed = await aborted(db)
                end = "ROLLBACK" if self.session.read_only or failed else "COMMIT"
                await db.execute(end)
            elif db.is_in_transaction() and not await aborted(db):
                await db.execute(f"CLOSE {self.name}")
        except asyncpg.PostgresError:
            if self.own_transaction and db.is_in_transaction():
                await db.execute("ROLLBACK")
        except (OSError, asyncpg.InterfaceError) as exc:
            raise UpstreamError(f"{self.session.conn.name}: {_message(exc)}") from None


async def aborted(db: asyncpg.Connection) -> bool:
    """Whether the transaction ``db`` is in has failed (only ROLLBACK is accepted then)."""
    try:
        await db.execute("SELECT")
    except asyncpg.InFailedSQLTransactionError:
        return True
    return False


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
