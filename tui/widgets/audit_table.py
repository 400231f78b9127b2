"""The audit pane's table: one row per record, oldest first, with its verification mark."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from broker.auditchain.record import AuditRecord
from broker.auditlog.query import RecordView
from tui.text import cell

PENDING: Final = "written; not yet read back and verified"
"""Status of a live record until it has been read back from the log and checked."""

MAX_ROWS: Final = 2000
"""Most rows kept; the oldest are dropped first as live records arrive."""

COLUMNS: Final = (
    ("seq", "seq"),
    ("time", "time (UTC)"),
    ("actor", "actor"),
    ("action", "action"),
    ("target", "target"),
    ("details", "details"),
    ("mark", "✓"),
)


def live_view(record: AuditRecord) -> RecordView:
    """A record reported as written, shown before it is read back and verified."""
    return RecordView(record, record.line(), "", False, PENDING)


def is_pending(view: RecordView) -> bool:
    """Tell whether ``view`` still waits to be read back."""
    return not view.ok and view.status == PENDING


def mark(view: RecordView) -> Text:
    """✓ verified, ✗ failed, … still to be read back."""
    if view.ok:
        return Text("✓", style="bold green")
    if is_pending(view):
        return Text("…", style="dim")
    return Text("✗", style="bold red")


def short_time(time: str) -> str:
    """``2026-11-22T10:11:12.123456Z`` → ``2026-11-22 10:11:12``."""
    return time[:19].replace("T", " ")


def short_details(details: dict[str, Any], width: int = 60) -> str:
    """``key=value`` pairs on one line, cut to ``width`` characters."""
    parts = []
    for key, value in details.items():
        text = value if isinstance(value, str) else repr(value)
        parts.append(f"{key}={text}")
    line = " ".join(parts).replace("\n", "⏎")
    return line if len(line) <= width else line[: width - 1] + "…"


def cells(view: RecordView) -> tuple[Text, ...]:
    """The row for ``view`` (a malformed line shows what is wrong with it).

    Every cell is a :func:`~tui.text.cell`: a plain ``str`` would be parsed as console markup,
    and record fields hold whatever users typed (escape sequences included).
    """
    record = view.record
    if record is None:
        texts = ("?", "", "", "(malformed line)", "", view.status)
    else:
        texts = (
            str(record.seq),
            short_time(record.time),
            record.actor,
            record.action,
            record.target,
            short_details(record.details),
        )
    return (*map(cell, texts), mark(view))


class AuditTable(DataTable[Any]):
    """Records as rows; keeps the :class:`RecordView` behind each row and follows the tail."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._views: dict[RowKey, RecordView] = {}
        self._by_seq: dict[int, RowKey] = {}
        self._next_key = 0

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def views(self) -> list[RecordView]:
        """The views shown, oldest first."""
        return list(self._views.values())

    def seqs(self) -> list[int]:
        """The sequence numbers of the records shown, oldest first."""
        return [v.record.seq for v in self._views.values() if v.record is not None]

    def has_seq(self, seq: int) -> bool:
        """Tell whether the record numbered ``seq`` is shown."""
        return seq in self._by_seq

    def show(self, views: list[RecordView]) -> None:
        """Replace all rows with ``views`` (oldest first) and put the cursor on the newest."""
        self.clear()
        self._views.clear()
        self._by_seq.clear()
        self.append(views, follow=True)

    def append(self, views: list[RecordView], *, follow: bool | None = None) -> None:
        """Add rows at the bottom; the cursor follows if it was on the last row (or ``follow``)."""
        if follow is None:
            follow = self.row_count == 0 or self.cursor_row >= self.row_count - 1
        for view in views:
            if view.record is not None and view.record.seq in self._by_seq:
                continue
            key = RowKey(str(self._next_key))
            self._next_key += 1
            self.add_row(*cells(view), key=key.value)
            self._views[key] = view
            if view.record is not None:
                self._by_seq[view.record.seq] = key
        self._trim()
        if follow and self.row_count:
            self.move_cursor(row=self.row_count - 1)

    def update_status(self, views: list[RecordView]) -> None:
        """Replace the views of rows already shown (matched by seq) and their marks."""
        for view in views:
            if view.record is None or (key := self._by_seq.get(view.record.seq)) is None:
                continue
            self._views[key] = view
            self.update_cell(key, "mark", mark(view))

    def fail_pending(self, seqs: set[int], reason: str) -> None:
        """Mark the pending rows ``seqs`` as failed with ``reason``."""
        for seq in seqs:
            key = self._by_seq.get(seq)
            if key is not None and is_pending(old := self._views[key]):
                self.update_status([replace(old, status=reason)])

    def _trim(self) -> None:
        excess = len(self._views) - MAX_ROWS
        for key in list(self._views)[: max(0, excess)]:
            view = self._views.pop(key)
            if view.record is not None:
                self._by_seq.pop(view.record.seq, None)
            self.remove_row(key)

    def view_at_cursor(self) -> RecordView | None:
        """The view under the cursor, if any."""
        if not self.row_count or not 0 <= self.cursor_row < self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return self._views.get(key)
