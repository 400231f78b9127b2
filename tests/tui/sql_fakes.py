"""A SQL console with canned answers (no database) for snapshots and the README's picture."""

from __future__ import annotations

from dataclasses import dataclass

from broker.session.sqlresult import Page, StatementResult
from broker.upstream.pgschema import Column, Relation

ROWS = [
    ("1", "Ada Byron", "[MASKED:email]", "[MASKED:column]", "Lisbon"),
    ("2", "Alan Hodge", "[MASKED:email]", "[MASKED:column]", "Leeds"),
    ("3", "Grace Moore", "[MASKED:email]", "[MASKED:column]", None),
    ("4", "Edsger Dyk", "[MASKED:email]", "[MASKED:column]", "Utrecht"),
    ("5", "Barbara Lis", "[MASKED:email]", "[MASKED:column]", "Boston"),
]
COLUMNS = ("id", "name", "email", "ssn", "city")
RELATIONS = [
    Relation(
        "public",
        "customers",
        "table",
        tuple(
            Column(n, t)
            for n, t in (
                ("id", "integer"),
                ("name", "text"),
                ("email", "text"),
                ("ssn", "text"),
                ("city", "text"),
            )
        ),
    ),
    Relation("public", "orders", "table", (Column("id", "integer"), Column("amount", "numeric"))),
    Relation("reports", "monthly", "view", (Column("month", "date"),)),
]


@dataclass
class _Conn:
    name: str
    read_only: bool = True


class FakeSqlConsole:
    """Answers every statement with five customers (masked cells marked) in 12 ms."""

    page_rows = 200

    def __init__(self, name: str) -> None:
        self.conn = _Conn(name)

    async def relations(self) -> list[Relation]:
        return RELATIONS

    def mark(self, text: str) -> None:
        """Nothing is recorded here."""

    async def execute(self, text: str) -> StatementResult:
        marks = [(False, False, True, True, False)] * len(ROWS)
        return StatementResult(
            status="SELECT 5",
            columns=COLUMNS,
            numeric=(True, False, False, False, False),
            total=len(ROWS),
            first=Page(0, list(ROWS), marks),
            elapsed=0.012,
            masked=10,
        )

    def cancel(self) -> bool:
        return False

    async def page(self, start: int) -> Page | None:
        return None

    async def count(self) -> int | None:
        return len(ROWS)

    async def close(self) -> None:
        """Nothing to close."""
