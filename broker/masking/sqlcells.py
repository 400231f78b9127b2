"""Masking of a page of SQL result cells, a column at a time.

Masking each cell on its own costs one engine call per cell (about 40 µs: 80,000 cells took
3 s). A column's cells of one page are masked as one text joined by newlines instead, which is a
token boundary for every detector, and split again. When that cannot be trusted (a cell holds a
newline, or a match ran across one so the pieces no longer line up) the column's page is masked
cell by cell. Column-name rules replace whole cells and never look at the text.
Cells that are one e-mail address and nothing else are replaced first, without the engine,
with what the engine would give them (``broker/masking/sqlshapes.py``, decision 035).

A ``bytea`` cell's text form is hex (``\\x616c…``), in which no detector sees anything; its
bytes are scanned too, and a cell with a finding is shown as its masked bytes (UTF-8, other
bytes as ``\\xNN``), so the mark is visible. Arrays, JSON, composite rows and every other type
are scanned as their text form (what psql prints).

Columns whose type's text form no built-in detector can match (booleans, dates and times,
intervals, smallints: at most five digits in a row, or a fixed shape no detector wants; not
UUIDs, whose digit groups can read as an Aadhaar number) are not scanned when the policy has
only built-in detectors; a custom detector's regex could match anything, so with one every
column is scanned. Other numbers (int4, int8, oid, numeric, float4, float8) can hold one
(a nine-digit int4 is a bare routing number, an int8 a card number): a page of such a column
is scanned unless every cell is at most ``SHORT_NUMBER`` characters long, which leaves no
room for nine digits in a row, and one ``.`` at most (decision 041). Column-name rules apply
to every column whatever its type. The names themselves are shown masked (:func:`shown_names`).
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Sequence

from broker.masking.builtin import BUILTIN_DETECTORS
from broker.masking.engine import MaskingEngine
from broker.masking.hsfind import HsFinder
from broker.masking.sqlshapes import email_applies, mask_emails
from broker.sql.provenance import WHOLE_ROW, source_names

Cell = str | None
UNSCANNED_TYPES = frozenset(
    {
        "bool",
        "int2",
        "date",
        "time",
        "timetz",
        "timestamp",
        "timestamptz",
        "interval",
    }
)
"""Types whose text no built-in detector matches (tests/unit/test_sql_cells.py).
An int4 or a float8 prints up to ten digits alone, a bare routing number's or card's shape; a
UUID's groups can be an Aadhaar number (found by the property test)."""
NUMBER_TYPES = frozenset({"int4", "int8", "oid", "numeric", "float4", "float8"})
"""Types whose text is a number: digits, a sign, one ``.``, an exponent, ``NaN``, ``Infinity``."""
SHORT_NUMBER = 8
"""A number this long or shorter holds nothing a built-in detector masks (the shortest values
of digits are nine: a bare routing number; an IPv4 address needs three dots; a US SSN and
the like need two separators; tests/unit/test_sql_cells.py)."""
_BUILTIN = frozenset(id(d) for d in BUILTIN_DETECTORS)
_EMBEDDED_HEX = re.compile(r"\\+x((?:[0-9a-fA-F]{2}){4,})")
"""A bytea inside a composite row, an array or JSON: ``\\x7373…`` (its backslash doubled)."""
_SHOWN = re.compile(r"[^A-Za-z0-9 :_\[\]@.+=-]")
has_long_line = HsFinder(
    b"[^\\n]{%d}" % (SHORT_NUMBER + 1),
    lambda text: max(map(len, text.split(b"\n"))) > SHORT_NUMBER,
)
"""Whether cells joined by newlines hold one longer than ``SHORT_NUMBER`` (UTF-8 bytes: a
number's characters are ASCII)."""


class Scan(enum.Enum):
    """Whether the detectors read a column's cells (column-name rules apply to all)."""

    ALL = "all"
    NONE = "none"
    """Its type's text holds nothing a built-in detector masks."""
    LONG = "long"
    """A number: a page is read when one of its cells is longer than ``SHORT_NUMBER``."""


def scanned_columns(engine: MaskingEngine, types: Sequence[str]) -> tuple[Scan, ...]:
    """Per column, how the detectors read its cells (column-name rules apply to all)."""
    if not all(id(d) in _BUILTIN for d in engine.policy.detectors):
        return tuple(Scan.ALL for _ in types)
    return tuple(
        Scan.NONE if t in UNSCANNED_TYPES else Scan.LONG if t in NUMBER_TYPES else Scan.ALL
        for t in types
    )


def rule_names(engine: MaskingEngine | None, sql: str, names: Sequence[str]) -> tuple[str, ...]:
    """The names column-name rules match for the result of ``sql``: a column renamed from a
    protected one (``SELECT ssn AS x``, ``upper(ssn)``, a subquery's alias) gets that one's
    name (``broker/sql/provenance.py``)."""
    if engine is None or not engine.policy.columns:
        return tuple(names)
    rules = engine.policy.columns
    return source_names(sql, names, lambda name: any(r.match.search(name) for r in rules))


def shown_names(engine: MaskingEngine | None, names: Sequence[str]) -> tuple[str, ...]:
    """Column names as shown: a name is the user's text too (``SELECT 1 AS "4111 …"``), so it
    goes through the detectors; column-name rules still match the names as the server gave them."""
    if engine is None:
        return tuple(names)
    return tuple(engine.mask_text(name, stream="column-name")[0] for name in names)


def mask_page(
    engine: MaskingEngine,
    columns: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    scanned: Sequence[Scan] | None = None,
) -> tuple[list[tuple[Cell, ...]], Counter[str]]:
    """The page with every cell masked, and how many values each detector masked."""
    cells = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in columns]
    masked, counts = mask_columns(engine, columns, cells, scanned)
    return list(zip(*masked, strict=True)) if rows else [], counts


def mask_columns(
    engine: MaskingEngine,
    columns: Sequence[str],
    cells: Sequence[Sequence[Cell]],
    scanned: Sequence[Scan] | None = None,
    binary: Sequence[bool] | None = None,
) -> tuple[list[Sequence[Cell]], Counter[str]]:
    """Each column's cells (``cells[i]`` for ``columns[i]``) masked; counts per detector.

    ``scanned`` (from :func:`scanned_columns`) says which columns the detectors read; by default
    all. ``binary`` marks ``bytea`` columns, whose bytes are read as well.
    """
    counts: Counter[str] = Counter()
    out = []
    for i, (name, col) in enumerate(zip(columns, cells, strict=True)):
        scan = scanned[i] if scanned is not None else Scan.ALL
        done = _column(engine, name, col, counts, scan=scan)
        if binary is not None and binary[i] and not _by_name(engine, name):
            done = _bytea_column(engine, name, col, done, counts)
        out.append(done)
    return out, counts


def _by_name(engine: MaskingEngine, name: str) -> bool:
    return name == WHOLE_ROW or any(rule.match.search(name) for rule in engine.policy.columns)


def _whole_rows(cells: Sequence[Cell], engine: MaskingEngine, counts: Counter[str]) -> list[Cell]:
    """A column that reads whole rows (``row_to_json(t)``) on a policy with column-name rules:
    which of its values a rule protects cannot be told, so each is replaced whole."""
    shown = engine.replacement("column", "redact", b"", "").decode()
    counts["column"] += sum(c is not None for c in cells)
    return [None if c is None else shown for c in cells]


def _bytea_column(
    engine: MaskingEngine,
    name: str,
    cells: Sequence[Cell],
    shown: Sequence[Cell],
    counts: Counter[str],
) -> Sequence[Cell]:
    """``shown`` (the text forms, masked) with each cell whose bytes hold a finding replaced by
    its masked bytes."""
    out: list[Cell] = list(shown)
    for i, cell in enumerate(cells):
        if cell is None or not cell.startswith("\\x"):
            continue
        try:
            raw = bytes.fromhex(cell[2:])
        except ValueError:
            continue
        masked, events = engine.mask_bytes(raw, stream=f"column:{name}")
        if events:
            counts.update(event.detector for event in events)
            out[i] = masked.decode("utf-8", "backslashreplace")
    return out


def _column(
    engine: MaskingEngine, name: str, cells: Sequence[Cell], counts: Counter[str], *, scan: Scan
) -> Sequence[Cell]:
    if name == WHOLE_ROW:
        return _whole_rows(cells, engine, counts)
    if _by_name(engine, name):
        return _one_by_one(engine, name, cells, counts)
    if scan is Scan.NONE or not cells:
        return cells
    try:
        text = "\n".join(cells)  # type: ignore[arg-type]  # a None raises
    except TypeError:
        return _with_nulls(engine, name, cells, counts, scan)
    if scan is Scan.LONG and not has_long_line(text.encode()):
        return cells
    return _present(engine, name, cells, text, counts)  # type: ignore[arg-type]  # no None


def _embedded(engine: MaskingEngine, name: str, cell: Cell, counts: Counter[str]) -> Cell:
    """``cell`` with each bytea it holds (in a row, array or JSON) whose bytes have a finding
    replaced by its masked bytes, printable characters only so the container stays readable."""
    if cell is None or "\\x" not in cell or _EMBEDDED_HEX.fullmatch(cell):
        return cell  # a bytea column's own cell: its bytes are read by _bytea_column

    def one(found: re.Match[str]) -> str:
        masked, events = engine.mask_bytes(bytes.fromhex(found[1]), stream=f"column:{name}")
        if not events:
            return found[0]
        counts.update(event.detector for event in events)
        return _SHOWN.sub(".", masked.decode("utf-8", "replace"))

    return _EMBEDDED_HEX.sub(one, cell)


def _with_nulls(
    engine: MaskingEngine, name: str, cells: Sequence[Cell], counts: Counter[str], scan: Scan
) -> Sequence[Cell]:
    """``cells`` masked with their NULLs left out and put back."""
    present = [c for c in cells if c is not None]
    if not present:
        return cells
    text = "\n".join(present)
    if scan is Scan.LONG and not has_long_line(text.encode()):
        return cells
    masked = _present(engine, name, present, text, counts)
    if masked is present:
        return cells
    it = iter(masked)
    return [None if c is None else next(it) for c in cells]


def _present(
    engine: MaskingEngine, name: str, present: Sequence[str], text: str, counts: Counter[str]
) -> Sequence[Cell]:
    """``present`` (no NULLs; ``text`` is them joined by newlines) masked: cells that are one
    e-mail address by ``mask_emails`` (``broker/masking/sqlshapes.py``), the others by the
    engine. Returns ``present`` itself when nothing was masked."""
    if not email_applies(engine):
        return _joined(engine, name, present, text, counts)
    shaped, found = mask_emails(engine, present, text)
    if not found:
        return _joined(engine, name, present, text, counts)
    counts["email"] += found
    if found == len(present):
        return shaped
    rest = [c for c, m in zip(present, shaped, strict=True) if m is None]
    it = iter(_joined(engine, name, rest, "\n".join(rest), counts))
    return [next(it) if m is None else m for m in shaped]


def _joined(
    engine: MaskingEngine, name: str, present: Sequence[str], text: str, counts: Counter[str]
) -> Sequence[Cell]:
    """``present`` (no NULLs) masked as ``text``, the cells joined by newlines, or cell by cell
    when a cell holds a newline or the pieces do not line up."""
    if text.count("\n") != len(present) - 1:  # a cell holds a newline
        return _one_by_one(engine, name, present, counts)
    masked, events = engine.mask_text(text, stream=f"column:{name}")
    pieces: Sequence[Cell] = present
    if events:
        pieces = masked.split("\n")
        if len(pieces) != len(present):
            return _one_by_one(engine, name, present, counts)
        counts.update(event.detector for event in events)
    if "\\x" in text:  # a bytea in a row, an array or JSON (or a bytea column's own form)
        pieces = [_embedded(engine, name, c, counts) for c in pieces]
    return pieces


def _one_by_one(
    engine: MaskingEngine, name: str, cells: Sequence[Cell], counts: Counter[str]
) -> list[Cell]:
    out: list[Cell] = []
    for cell in cells:
        value, events = engine.mask_value(name, cell)
        counts.update(event.detector for event in events)
        out.append(None if value is None else _embedded(engine, name, str(value), counts))
    return out
