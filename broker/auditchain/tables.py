"""Evidence tables (logins, sessions, commands…) derived from verified records, as CSV, JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any, Final

from broker.auditchain.events import TABLES, table_for
from broker.auditchain.record import AuditRecord

BASE_COLUMNS: Final = ("seq", "time", "actor", "action", "target")
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def build_tables(records: Iterable[AuditRecord]) -> dict[str, list[AuditRecord]]:
    """Sort records into the evidence tables by action.

    Returns:
        Every name of :data:`broker.auditchain.events.TABLES` mapped to its records, in log order.
    """
    tables: dict[str, list[AuditRecord]] = {name: [] for name in TABLES}
    for record in records:
        tables[table_for(record.action)].append(record)
    return tables


def table_json(records: list[AuditRecord]) -> bytes:
    """Encode a table as a JSON array of ``{seq, time, actor, action, target, details}``."""
    rows = [
        {name: getattr(record, name) for name in (*BASE_COLUMNS, "details")} for record in records
    ]
    return json.dumps(rows, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8") + b"\n"


def table_csv(records: list[AuditRecord]) -> bytes:
    """Encode a table as CSV: the base columns, then one ``details.<key>`` column per detail key.

    Non-string values are written as compact JSON; a cell that a spreadsheet would run as a
    formula gets a leading apostrophe (the JSON table keeps the exact values).
    """
    keys = sorted({key for record in records for key in record.details})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*BASE_COLUMNS, *(f"details.{key}" for key in keys)])
    for record in records:
        cells: list[Any] = [getattr(record, name) for name in BASE_COLUMNS]
        cells += [_cell(record.details.get(key)) for key in keys]
        writer.writerow([_defuse(str(cell)) for cell in cells])
    return out.getvalue().encode("utf-8")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _defuse(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text
