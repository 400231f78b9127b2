"""One `sql` request: classify, decide, run on the database, mask the cells, audit each statement.

The request's statements run in order on one connection opened with the vault credential; the
first error ends the request. Each statement is audited (user, connection, masked text,
classification, decision, duration, rows, masking counts), refused ones included.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from broker.auditchain.events import Action
from broker.common.errors import ApprovalRequired, PolicyDenied, UpstreamError
from broker.config.model import Connection
from broker.masking.engine import MaskingEngine
from broker.masking.lines import LineMask, mask_details
from broker.masking.sqlcells import Scan, mask_columns, rule_names, scanned_columns, shown_names
from broker.policy.sql import SqlDecision, SqlRule, decide_sql
from broker.session.ports import EventSink
from broker.session.terminal import Principal
from broker.sql.classify import Classification, Statement, classify
from broker.sql.output import ResultWriter
from broker.upstream.pgstream import PageHandler
from broker.upstream.postgres import Outcome, PgSession, Row, SqlError
from broker.vault import Secret

NUMERIC_TYPES = frozenset({"int2", "int4", "int8", "float4", "float8", "numeric", "oid", "money"})
MAX_TEXT = 1024 * 1024


Approve = Callable[[SqlDecision], Awaitable[str]]
"""Asks for (and waits for) the approval an `approval` rule wants; returns the request id.
Raises ApprovalRequired (ApprovalPending, ApprovalRefused) when there is none."""


class ClientGone(Exception):
    """The client closed its channel while a result was streaming."""


class SqlOutput(Protocol):
    """Where results go: the `sql` verb's stdout and stderr."""

    @property
    def closed(self) -> bool:
        """Whether the client has gone (the rest of a result is not fetched)."""

    def write(self, data: bytes) -> None: ...

    async def wait_closed(self) -> None: ...

    def write_stderr(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...


@dataclass(frozen=True)
class SqlRequest:
    """Who runs what where, and how the result is shown."""

    principal: Principal
    conn: Connection
    text: str
    fmt: str = "aligned"
    """aligned, csv or json."""


class _Masker:
    """Masks cells with the session's engine and counts what it masked per detector."""

    def __init__(self, engine: MaskingEngine | None, writer: ResultWriter) -> None:
        self.engine = engine
        self.writer = writer
        self.counts: Counter[str] = Counter()
        self.columns: tuple[str, ...] = ()
        self.scanned: tuple[Scan, ...] = ()
        self.binary: tuple[bool, ...] = ()

    def begin(self, names: Sequence[str], types: Sequence[str]) -> None:
        self.columns = tuple(names)
        if self.engine is not None:
            self.scanned = scanned_columns(self.engine, types)
            self.binary = tuple(t == "bytea" for t in types)

    def page(self, cells: Sequence[Sequence[str | None]]) -> bytes:
        """A page of rows (``cells[i][row]``) masked and written out, in one worker call."""
        if self.engine is not None:
            cells, counts = mask_columns(
                self.engine, self.columns, cells, self.scanned, self.binary
            )
            self.counts.update(counts)
        return self.writer.page_columns(cells)


async def run_sql(
    request: SqlRequest,
    *,
    rules: Sequence[SqlRule],
    secret: Secret,
    engine: MaskingEngine | None,
    audit_mask: LineMask,
    events: EventSink,
    out: SqlOutput,
    approve: Approve | None = None,
) -> int:
    """Run ``request``; returns the exit status (0, or 1 after a database error).

    A string an `approval` rule holds runs once ``approve`` returns (the id of the approved
    request, audited with each statement); without ``approve``, or when it raises, the string
    is refused.

    Raises:
        PolicyDenied, ApprovalRequired: the statements were refused (already audited).
        UpstreamError: the database cannot be reached or broke off.
    """
    classification = await asyncio.to_thread(classify, request.text)  # long text takes a while
    decision = decide_sql(
        rules,
        classification,
        groups=request.principal.groups,
        connection=request.conn.name,
        read_only=request.conn.read_only,
    )
    audit = StatementAudit(request, events, audit_mask, classification, decision)
    if decision.action == "approval" and approve is not None:
        try:
            audit.approval = await approve(decision)
        except BaseException:
            await audit.refused()
            raise
    elif not decision.allowed:
        await audit.refused()
        _refuse(request.conn.name, decision)
    session = await PgSession.open(
        request.conn,
        secret,
        read_only=request.conn.read_only,
        statement_timeout=request.conn.statement_timeout,
    )
    masked: Counter[str] = Counter()
    try:
        for index, statement in enumerate(classification.statements):
            await audit.statement(index, statement)  # before it runs, as `run` does
            ok = await _one(request, session, statement, audit.result(index), engine, out, masked)
            if not ok:
                return 1
        return 0
    finally:
        if masked:  # as after `run`: counts by detector on stderr, never a value
            by = ", ".join(f"{name} {n}" for name, n in sorted(masked.items()))
            out.write_stderr(f"gatehouse: {masked.total()} values masked ({by})\n".encode())
        await asyncio.shield(session.close())


async def _one(
    request: SqlRequest,
    session: PgSession,
    statement: Statement,
    report: _Report,
    engine: MaskingEngine | None,
    out: SqlOutput,
    total: Counter[str],
) -> bool:
    writer = ResultWriter(request.fmt)
    masker = _Masker(engine, writer)

    header = [b""]  # written with the first rows, or once the statement succeeded

    async def on_columns(names: Sequence[str], types: Sequence[str]) -> None:
        masker.begin(rule_names(engine, statement.text, names), types)
        shown = shown_names(engine, names)
        header[0] = writer.begin(shown, [t in NUMERIC_TYPES for t in types])

    async def on_rows(rows: Sequence[Row]) -> None:
        if out.closed:
            raise ClientGone("the client went away")
        cells = list(zip(*rows, strict=True))
        await emit(await asyncio.to_thread(masker.page, cells), len(rows))

    async def emit(data: bytes, rows: int) -> None:
        if out.closed:
            raise ClientGone("the client went away")
        sent[0] += rows
        data = header[0] + data
        header[0] = b""
        if data:
            out.write(data)
            await out.drain()

    sent = [0]
    started = time.monotonic()
    outcome: Outcome | None = None
    error = ""
    try:
        outcome = await _unless_gone(
            out,
            session.run(
                statement.text,
                wrappable=_wrappable(statement),
                on_columns=on_columns,
                on_rows=on_rows,
                stream=True,
                on_page=PageHandler(masker.page, emit),
            ),
        )
    except SqlError as exc:
        where = f" (at character {exc.position})" if exc.position else ""
        error = _masked(engine, f"{exc}{where}")
        out.write_stderr(f"ERROR:  {error}\n".encode())
    except ClientGone as exc:
        error = str(exc)
    except UpstreamError as exc:
        error = _masked(engine, str(exc))
        raise
    finally:
        total.update(masker.counts)
        await report(time.monotonic() - started, outcome, masker.counts, error, sent[0])
    if outcome is None:
        return False
    out.write(header[0] + writer.end())
    if not outcome.columns:
        line = f"{outcome.status}\n".encode()
        out.write_stderr(line) if request.fmt == "json" else out.write(line)
    await out.drain()
    return True


def _wrappable(statement: Statement) -> bool:
    """A plain SELECT, or one INSERT/UPDATE/DELETE (its RETURNING rows) with nothing nested."""
    if statement.verbs == {"select"}:
        return statement.kind == "read"
    return statement.verbs == {statement.verb} and statement.verb in ("insert", "update", "delete")


async def _unless_gone(out: SqlOutput, work: Awaitable[Outcome]) -> Outcome:
    """``work``'s outcome; if the client goes first, ``work`` is cancelled (asyncpg then sends
    the server a cancel request, so a long statement stops too) and ClientGone raised."""
    run = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(out.wait_closed())
    try:
        await asyncio.wait({run, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not run.done():
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run
    if run.cancelled():
        raise ClientGone("the client went away")
    return run.result()


def _refuse(name: str, decision: SqlDecision) -> None:
    what = f"{decision.reason}: " if decision.reason else ""
    if decision.action == "approval":
        raise ApprovalRequired(
            f"{what}this statement on {name!r} needs an approval (rule {decision.rule!r})",
            rule=decision.rule,
        )
    raise PolicyDenied(
        f"{what}statement refused on {name!r} by rule {decision.rule!r}", rule=decision.rule
    )


def _masked(engine: MaskingEngine | None, text: str) -> str:
    return text if engine is None else engine.mask_text(text, stream="message")[0]


_Report = Callable[[float, "Outcome | None", Counter[str], str, int], Awaitable[None]]


class StatementAudit:
    """The audit records of one request: `sql.statement` before each statement runs (or is
    refused), `sql.result` after it, both naming the request and the statement's index."""

    def __init__(
        self,
        request: SqlRequest,
        events: EventSink,
        mask: LineMask,
        classification: Classification,
        decision: SqlDecision,
    ) -> None:
        self.request = request
        self.events = events
        self.mask = mask
        self.classification = classification
        self.decision = decision
        self.id = secrets.token_hex(8)
        self.approval = ""
        """The approved request the statements run under, if any."""

    async def _emit(self, action: Action, details: dict[str, object]) -> None:
        who = self.request.principal
        masked = mask_details(details, self.mask)  # the session's policy, unmasked role or not
        await self.events.emit(who.name, action, self.request.conn.name, masked)

    async def refused(self) -> None:
        """A record for each statement of a string that will not run."""
        for index, statement in enumerate(self.classification.statements or (None,)):
            await self.statement(index, statement)

    async def statement(self, index: int, statement: Statement | None) -> None:
        text = statement.text if statement is not None else self.request.text[:MAX_TEXT]
        decision = self.decision
        details: dict[str, object] = {
            "request": self.id,
            "index": index,
            "statement": text,
            "classification": f"{statement.verb}:{statement.kind}" if statement else "unparsed",
            "decision": decision.action,
            "rule": decision.rule,
            "client": self.request.principal.client_addr,
            "read_only": self.request.conn.read_only,
        }
        if decision.reason:
            details["reason"] = decision.reason
        if self.approval:
            details["approval"] = self.approval
        if statement is not None and statement.without_where:
            details["without_where"] = True
        if self.classification.error:
            details["error"] = self.classification.error
        await self._emit(Action.SQL_STATEMENT, details)

    def result(self, index: int) -> _Report:
        async def report(
            duration: float, outcome: Outcome | None, masked: Counter[str], error: str, sent: int
        ) -> None:
            details: dict[str, object] = {
                "request": self.id,
                "index": index,
                "duration_ms": round(duration * 1000, 3),
                "rows": outcome.rows if outcome else sent,
                "status": outcome.status if outcome else "",
                "masked": masked.total(),
                "masked_by": dict(sorted(masked.items())),
            }
            if error:
                details["error"] = error
            await self._emit(Action.SQL_RESULT, details)

        return report
