"""The SQL console's results: what it hands the pane, and the result it keeps for paging."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from broker.sql.classify import Statement
from broker.upstream.pgcursor import ScrollResult
from broker.upstream.postgres import Outcome, Row

Transaction = Literal["idle", "open", "aborted"]
"""No transaction (each statement commits), one the user began, or one that failed."""


@dataclass(frozen=True)
class Page:
    """Rows ``start`` … of a result, masked, and which cells the masking changed."""

    start: int
    rows: list[Row]
    marks: list[tuple[bool, ...]]


@dataclass(frozen=True)
class Held:
    """A statement an `approval` SQL rule holds and no grant covers: what asking takes."""

    rule: str
    """The rule that holds it."""
    approvers: tuple[str, ...]
    """Groups whose members may approve."""
    needed: int
    """Distinct approvals needed."""
    reason_required: bool
    """Whether the request needs a justification."""


@dataclass
class StatementResult:
    """What the pane shows after a statement (the last one run of what was sent)."""

    status: str = ""
    """The server's command tag, or the refusal or error in a word."""
    columns: tuple[str, ...] = ()
    numeric: tuple[bool, ...] = ()
    """Columns of numbers (right-aligned)."""
    total: int | None = None
    """Rows in the result; None while not all were read (more come on scroll)."""
    first: Page | None = None
    elapsed: float = 0.0
    """Seconds from sending the statement to its first page (or its end)."""
    error: str = ""
    """The database's error or the policy's refusal (masked)."""
    position: int | None = None
    """Where the error is, as a 0-based character offset into the text sent."""
    refused: bool = False
    transaction: Transaction = "idle"
    masked: int = 0
    """Values masked in the rows read so far."""
    statements: int = 0
    """Statements run (several when the text held several)."""
    held: Held | None = None
    """Nothing ran: an approval is needed (run it again with an ``Ask``)."""
    approval: str = ""
    """The request the statements ran under, or the one that was not approved."""


Report = Callable[[float, "Outcome | None", Counter[str], str, int], Awaitable[None]]
"""Writes a statement's `sql.result` record (duration, outcome, masking counts, error, rows)."""


@dataclass
class Current:
    """The result being scrolled: its cursor (or kept rows) and its audit report."""

    statement: Statement
    report: Report
    started: float
    elapsed: float
    columns: tuple[str, ...]
    status: str = ""
    cursor: ScrollResult | None = None
    kept: list[Row] = field(default_factory=list)
    total: int | None = None
    masked: Counter[str] = field(default_factory=Counter)
    seen: set[int] = field(default_factory=set)
    """Pages masked and recorded already (counted once, however often they are shown)."""
    furthest: int = 0


def timing(result: StatementResult) -> str:
    """The transcript's status line: ``SELECT, first 200 rows in 8 ms; more on scroll``."""
    ms = round(result.elapsed * 1000)
    if result.total is None and result.columns:
        shown = len(result.first.rows) if result.first else 0
        return f"{result.status}, first {shown} rows in {ms} ms; more on scroll"
    return f"{result.status} in {ms} ms"


def affected(status: str) -> int:
    """Rows a command tag says were affected (``UPDATE 3`` → 3)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0
