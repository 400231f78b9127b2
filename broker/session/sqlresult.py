"""What the SQL console hands the pane: a statement's result and a page of masked rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from broker.upstream.postgres import Row

Transaction = Literal["idle", "open", "aborted"]
"""No transaction (each statement commits), one the user began, or one that failed."""


@dataclass(frozen=True)
class Page:
    """Rows ``start`` … of a result, masked, and which cells the masking changed."""

    start: int
    rows: list[Row]
    marks: list[tuple[bool, ...]]


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
