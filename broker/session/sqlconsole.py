"""One SQL console session: the pane's statements decided, run, masked, audited and recorded.

Every statement goes the way a `sql` verb's does (:mod:`broker.session.sql`): classified with
pglast, decided by the SQL rules (read-only connections first), audited before it runs
(`sql.statement`) and after (`sql.result`), its cells masked with the session's policy. What
differs is how rows come back: a plain SELECT stays on the server as a scroll cursor
(:mod:`broker.upstream.pgcursor`) and the pane reads the window it shows, so a result of any
size costs the broker a page. Transactions behave as in psql: each statement commits on its
own unless the user began one; the console tells the pane when one is open or has failed.
The session is recorded as a psql-like transcript (:mod:`broker.sql.transcript`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from broker.approvals.asks import Ask
from broker.common.errors import (
    ApprovalRequired,
    GatehouseError,
    PolicyDenied,
    RecordingError,
)
from broker.config.model import Connection
from broker.masking.engine import MaskingEngine
from broker.masking.lines import LineMask
from broker.masking.sqlcells import shown_names
from broker.policy.sql import SqlDecision, SqlRule, decide_sql
from broker.session.ports import EventSink, Recording
from broker.session.sql import NUMERIC_TYPES, SqlRequest, StatementAudit
from broker.session.sqlheld import StatementApprovals
from broker.session.sqlpages import PAGE_ROWS, ResultPages
from broker.session.sqlresult import (
    Current,
    Report,
    StatementResult,
    Transaction,
    timing,
)
from broker.session.terminal import Principal
from broker.sql import transcript
from broker.sql.classify import Statement, classify
from broker.upstream.pgcursor import ScrollResult, aborted
from broker.upstream.pgschema import Relation, list_relations
from broker.upstream.postgres import PgSession, Row, SqlError

MAX_KEPT = 10_000
"""Rows of a result that is not a plain SELECT kept for the pane (the rest are counted)."""
CANCELLED = "canceling statement due to user request"


class SqlConsole(ResultPages):
    """The broker side of one SQL console pane; its methods are called one at a time.

    Reading the current result's pages, and recording them, is :class:`ResultPages`'s.
    """

    def __init__(
        self,
        principal: Principal,
        conn: Connection,
        session: PgSession,
        *,
        rules: Sequence[SqlRule],
        engine: MaskingEngine | None,
        audit_mask: LineMask,
        events: EventSink,
        recorder: Recording | None,
        session_id: str,
        page_rows: int = PAGE_ROWS,
    ) -> None:
        self.principal = principal
        self.conn = conn
        self.session = session
        self.rules = rules
        self.engine = engine
        self.audit_mask = audit_mask
        self.events = events
        self.recorder = recorder
        self.session_id = session_id
        self.page_rows = page_rows
        self.transaction: Transaction = "idle"
        self.statements = 0
        self._current: Current | None = None
        self._running: asyncio.Future[StatementResult] | None = None
        self._cursors = 0
        self._lock = asyncio.Lock()
        self.closed = False
        self.after_close: Callable[[], Awaitable[None]] | None = None
        """Closes the recording and audits the session's end (set by whoever opened it)."""
        self.approvals: StatementApprovals | None = None
        """Asks for the approvals `approval` rules want (set by whoever opened it; without,
        a held statement is refused)."""

    # -- statements ------------------------------------------------------------

    async def execute(self, text: str, ask: Ask | None = None) -> StatementResult:
        """Decide and run ``text`` (one statement or several, in order; the first error stops).

        A running statement is stopped by :meth:`cancel` (a PostgreSQL cancel request). A text
        an `approval` rule holds runs under a grant for exactly that text; without one, the
        result says what asking takes (``held``) unless ``ask`` is given, when the approval is
        requested and waited for (:mod:`broker.session.sqlheld`); the console is not locked
        meanwhile (pages, counts and the schema are read as usual).

        Raises:
            UpstreamError: the database connection broke (the pane is then done).
            RecordingError: the recording failed (strict: nothing runs unrecorded).
        """
        if self.closed:
            raise GatehouseError("the SQL console is closed")
        classification = await asyncio.to_thread(classify, text)
        decision = decide_sql(
            self.rules,
            classification,
            groups=self.principal.groups,
            connection=self.conn.name,
            read_only=self.conn.read_only,
        )
        audit = StatementAudit(
            SqlRequest(self.principal, self.conn, text, "console"),
            self.events,
            self.audit_mask,
            classification,
            decision,
        )
        prompt = transcript.statement(self.conn.name, self._masked_text(text))
        if decision.action == "approval" and self.approvals is not None:
            held = None if ask is not None else await self.approvals.held(text, decision.rule)
            if held is not None:  # nothing recorded or audited: the pane asks first
                return StatementResult(status="HELD", held=held, transaction=self.transaction)
            self._record(prompt)
            prompt = ""
            try:
                audit.approval = await self.approvals.clear(text, decision.rule, ask, self._note)
            except (ApprovalRequired, PolicyDenied) as exc:  # not asked, denied, cancelled …
                await audit.refused()
                return self._not_approved(str(exc))
            except BaseException:
                await audit.refused()
                raise
        async with self._lock:
            if self.closed:
                raise GatehouseError("the SQL console is closed")
            await self._end_current()
            if prompt:
                self._record(prompt)
            running = self._running = asyncio.ensure_future(self._execute(text, audit))
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                if _outer_cancelled():  # the pane went away: stop the statement too
                    running.cancel()
                    with contextlib.suppress(BaseException):
                        await running
                    raise
                # cancelled before a statement ran (auditing): nothing to undo
                return StatementResult(
                    status="ERROR", error=CANCELLED, transaction=self.transaction
                )
            finally:
                self._running = None

    def cancel(self) -> bool:
        """Stop the running statement: asyncpg sends the server a cancel request.

        Returns:
            Whether a statement was running.
        """
        running = self._running
        if running is None or running.done():
            return False
        running.cancel()
        return True

    async def _execute(self, text: str, audit: StatementAudit) -> StatementResult:
        classification, decision = audit.classification, audit.decision
        if not decision.allowed and not audit.approval:
            await audit.refused()
            return self._refused(decision, classification.error)
        result = StatementResult()
        searched = 0
        last = len(classification.statements) - 1
        for index, statement in enumerate(classification.statements):
            offset = text.find(statement.text, searched)
            offset = max(offset, 0)
            searched = offset + len(statement.text)
            await audit.statement(index, statement)
            self.statements += 1
            result = await self._one(statement, audit, index, keep=index == last)
            result.statements = index + 1
            if result.position is not None:
                result.position += offset
            if result.error:
                break
        result.approval = audit.approval
        return result

    async def _one(
        self, statement: Statement, audit: StatementAudit, index: int, *, keep: bool
    ) -> StatementResult:
        report = audit.result(index)
        started = time.monotonic()
        result = StatementResult()
        try:
            current = self._current = await self._run(statement, report, started)
            result.columns = shown_names(self.engine, current.columns)
            if current.cursor is not None:
                result.numeric = tuple(t in NUMERIC_TYPES for t in current.cursor.types)
            if current.columns:
                result.first = await self._page(current, 0)
            if current.cursor is not None:
                current.elapsed = time.monotonic() - started
        except asyncio.CancelledError:
            if _outer_cancelled():
                raise
            return await self._failed(statement, report, started, CANCELLED, None)
        except SqlError as exc:
            position = exc.position - 1 if exc.position else None
            return await self._failed(statement, report, started, str(exc), position)
        result.elapsed = current.elapsed
        result.total = current.total
        result.status = current.status or (
            f"SELECT {current.total}" if current.total is not None else "SELECT"
        )
        await self._transaction_state()
        result.transaction = self.transaction
        result.masked = current.masked.total()
        self._record(transcript.status(timing(result)))
        if not keep:
            await self._end_current()
        return result

    async def _run(self, statement: Statement, report: Report, started: float) -> Current:
        if statement.kind == "read" and statement.verbs == {"select"}:
            self._cursors += 1
            name = f"gh_result_{self._cursors}"
            cursor = await ScrollResult.declare(self.session, statement.text, name)
            if cursor is not None:
                return Current(statement, report, started, 0.0, cursor.columns, cursor=cursor)
        kept: list[Row] = []
        names: list[str] = []

        async def on_columns(columns: Sequence[str], types: Sequence[str]) -> None:
            names[:] = columns
            numeric[:] = [t in NUMERIC_TYPES for t in types]

        async def on_rows(rows: Sequence[Row]) -> None:
            kept.extend(rows[: max(0, MAX_KEPT - len(kept))])

        numeric: list[bool] = []
        outcome = await self.session.run(
            statement.text,
            wrappable=_wrappable(statement),
            on_columns=on_columns,
            on_rows=on_rows,
        )
        current = Current(
            statement, report, started, time.monotonic() - started, tuple(names), kept=kept
        )
        current.total = outcome.rows if names else None
        current.status = outcome.status
        return current

    async def _failed(
        self,
        statement: Statement,
        report: Report,
        started: float,
        message: str,
        position: int | None,
    ) -> StatementResult:
        current, self._current = self._current, None
        if current is not None and current.cursor is not None:
            await asyncio.shield(current.cursor.close())  # rolls back the console's transaction
        masked = self._masked_value(message)
        elapsed = time.monotonic() - started
        await report(elapsed, None, Counter(), masked, current.furthest if current else 0)
        caret = None if position is None else position + 1
        self._record(transcript.error(masked, self._masked_text(statement.text), caret))
        await self._transaction_state()
        return StatementResult(
            status="ERROR",
            error=masked,
            position=position,
            elapsed=elapsed,
            transaction=self.transaction,
        )

    def _not_approved(self, why: str) -> StatementResult:
        asked = self.approvals.asked if self.approvals is not None else None
        message = self._masked_value(why)
        self._record(transcript.note(f"not run: {message}"))
        return StatementResult(
            status="NOT APPROVED",
            error=message,
            refused=True,
            transaction=self.transaction,
            approval=asked.id if asked is not None else "",
        )

    def _note(self, text: str) -> None:
        """A line in the transcript while no statement runs (a failed recording is raised by
        the next statement's)."""
        with contextlib.suppress(RecordingError):
            self._record(transcript.note(self._masked_value(text)))

    def _refused(self, decision: SqlDecision, parse_error: str) -> StatementResult:
        why = f"{decision.reason}: " if decision.reason else ""
        if decision.action == "approval":
            message = f"{why}this statement needs an approval (rule {decision.rule!r})"
        else:
            message = f"{why}refused by rule {decision.rule!r}"
        message = self._masked_value(message)
        self._record(transcript.note(message))
        found = re.search(r"\(at character (\d+)\)", parse_error)
        position = int(found.group(1)) - 1 if found else None
        return StatementResult(
            status="REFUSED",
            error=message,
            position=position,
            refused=True,
            transaction=self.transaction,
        )

    async def _transaction_state(self) -> None:
        db = self.session.db
        current = self._current
        own = current is not None and current.cursor is not None and current.cursor.own_transaction
        if db.is_closed() or not db.is_in_transaction() or own:
            self.transaction = "idle"
        else:
            self.transaction = "aborted" if await aborted(db) else "open"

    # -- schema, masking, recording ---------------------------------------------

    async def relations(self) -> list[Relation]:
        """The schema browser's contents.

        Raises:
            SqlError: the catalog could not be read (a failed transaction).
        """
        async with self._lock:
            return await list_relations(self.session)

    def _masked_text(self, text: str) -> str:
        return self.audit_mask(text).text

    def _masked_value(self, text: str) -> str:
        if self.engine is None:
            return self.audit_mask(text).text
        return self.engine.mask_text(text, stream="message")[0]

    def mark(self, text: str) -> None:
        """A marker in the recording for a statement (masked), for the replay's list."""
        if self.recorder is not None:
            self.recorder.marker(self._masked_text(text))

    async def close(self) -> None:
        """End the current result, roll back an open transaction, close the connection."""
        if self.closed:
            return
        self.closed = True
        self.cancel()
        async with self._lock:
            try:
                await self._end_current()
            finally:
                await asyncio.shield(self.session.close())
                if self.after_close is not None:
                    await asyncio.shield(self.after_close())


def _outer_cancelled() -> bool:
    """Whether the task running this was itself cancelled (not just the statement)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _wrappable(statement: Statement) -> bool:
    if statement.verbs == {"select"}:
        return statement.kind == "read"
    return statement.verbs == {statement.verb} and statement.verb in ("insert", "update", "delete")
