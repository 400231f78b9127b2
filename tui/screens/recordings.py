"""The recordings pane: recordings filtered by user, connection, dates and text; Enter replays."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from broker.common.errors import GatehouseError, RecordingError
from tui.screens.replay import ReplayScreen
from tui.text import cell, plain
from tui.widgets.timeline import fmt_time

if TYPE_CHECKING:
    from broker.review.services import Viewing
    from recordings.store import RecordingInfo, StoreMatch
    from tui.app import GatehouseApp

log = logging.getLogger(__name__)

_FIELDS = (
    ("text", "search text", "text shown or a command run; Enter searches"),
    ("user", "user", "part of the user name"),
    ("conn", "connection", "part of the connection name"),
    ("since", "from date", "YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)"),
    ("until", "to date", "YYYY-MM-DD (to its end) or YYYY-MM-DDTHH:MM (UTC)"),
)
"""Filter boxes: id suffix, placeholder (fits at 80 columns), tooltip."""

LIST_COLUMNS = ("started (UTC)", "user", "connection", "kind", "size", "session")
MATCH_COLUMNS = ("session", "moment", "user", "connection", "what", "line")


@dataclass(frozen=True)
class Filters:
    """What the list is narrowed to (empty strings and None match everything)."""

    user: str = ""
    """Part of the user name."""
    connection: str = ""
    """Part of the connection name."""
    since: float | None = None
    """Started at or after (Unix seconds)."""
    until: float | None = None
    """Started before (Unix seconds)."""

    def matches(self, info: RecordingInfo) -> bool:
        """Return True when ``info`` passes every filter."""
        meta = info.header.meta
        user = meta.user if meta else ""
        connection = meta.connection if meta else ""
        started = info.started or info.mtime
        return (
            self.user.lower() in user.lower()
            and self.connection.lower() in connection.lower()
            and (self.since is None or started >= self.since)
            and (self.until is None or started < self.until)
        )


def parse_day(text: str, *, end: bool = False) -> float | None:
    """Parse ``YYYY-MM-DD`` or an ISO 8601 time (naive means UTC) into Unix seconds.

    Args:
        text: what the user typed; empty means no bound.
        end: for a bare date, return the end of that day (an inclusive "to" date).

    Raises:
        ValueError: not a date or time.
    """
    text = text.strip()
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end and len(text) == 10:
        moment += timedelta(days=1)
    return moment.timestamp()


def fmt_size(n: int) -> str:
    """Format a byte count briefly (``812 B``, ``3.4 KiB``, ``12.0 MiB``)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover - the loop always returns


def fmt_started(info: RecordingInfo) -> str:
    """Format when a recording started, in UTC."""
    ts = info.started or info.mtime
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


class SearchBox(Input):
    """The search box: Enter searches (or replays the selected moment once searched)."""

    BINDINGS = [Binding("enter", "submit", "Search")]


class FilterBox(Input):
    """A filter box: the list narrows as you type; Enter replays the selected recording."""

    BINDINGS = [Binding("enter", "submit", "Replay")]


def recordings_key_enabled(app: App[None]) -> bool:
    """Tell whether `r` opens the pane now: on the picker, unless text is being typed."""
    from tui.screens.connections import ConnectionsScreen

    focused = app.focused
    typing = isinstance(focused, Input) and bool(focused.value)
    return isinstance(app.screen, ConnectionsScreen) and not typing


class RecordingsScreen(Screen[None]):
    """Find a recording (or a moment in one) and replay it."""

    TITLE = "Recordings"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("enter", "open", "Replay"),
        Binding("f5", "reload", "Reload"),
        Binding("escape", "back", "Back"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.infos: list[RecordingInfo] = []
        self.matches: list[StoreMatch] | None = None
        self.search_text = ""
        self._rows: list[tuple[str, float]] = []

    @property
    def gh_app(self) -> GatehouseApp:
        from tui.app import GatehouseApp

        assert isinstance(self.app, GatehouseApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield Header()
        # in reading order: the search box, focused first, then the narrowing filters
        with Horizontal(id="rec-filters"):
            for name, placeholder, hint in _FIELDS:
                box = (SearchBox if name == "text" else FilterBox)(
                    placeholder=placeholder, id=f"rec-{name}"
                )
                box.tooltip = hint
                yield box
        table: DataTable[str] = DataTable(id="recordings", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#recordings", DataTable).add_columns(*LIST_COLUMNS)
        self.query_one("#rec-text", Input).focus()
        self.load()

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.update(plain(text))
        status.set_class(error, "error")

    # -- loading and searching (workers calling the review services) --------------------------

    @work(exclusive=True, group="recordings", exit_on_error=False)
    async def load(self) -> None:
        """Fetch the recordings this user may see."""
        app = self.gh_app
        self._status("Loading recordings…")
        try:
            self.infos = await app.services.review.list_recordings(app.principal)
        except (GatehouseError, RecordingError) as exc:
            self._status(f"Cannot list recordings: {exc}", error=True)
            return
        self.refill()

    @work(exclusive=True, group="recordings", exit_on_error=False)
    async def search(self, text: str) -> None:
        """Find the sessions and moments where ``text`` was shown or run."""
        app = self.gh_app
        self._status(f"Searching for {text!r}…")
        try:
            found = await app.services.review.search_recordings(app.principal, text)
        except (GatehouseError, RecordingError) as exc:
            self._status(f"Search failed: {exc}", error=True)
            return
        self.search_text, self.matches = text, found
        self.refill()

    def filters(self) -> Filters | None:
        """Read the filter boxes (None, with a message, when a date is not one)."""
        value = {i: self.query_one(f"#rec-{i}", Input).value for i in ("user", "conn")}
        try:
            since = parse_day(self.query_one("#rec-since", Input).value)
            until = parse_day(self.query_one("#rec-until", Input).value, end=True)
        except ValueError:
            self._status("Dates are YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC).", error=True)
            return None
        return Filters(value["user"].strip(), value["conn"].strip(), since, until)

    def refill(self) -> None:
        """Show the recordings (or the search's moments) that pass the filters."""
        filters = self.filters()
        if filters is None:
            return
        table = self.query_one("#recordings", DataTable)
        by_id = {info.session_id: info for info in self.infos}
        self._rows = []
        if self.matches is None:
            table.clear(columns=True)
            table.add_columns(*LIST_COLUMNS)
            shown = [info for info in self.infos if filters.matches(info)]
            for info in shown:
                meta = info.header.meta
                user, conn, kind = (meta.user, meta.connection, meta.kind) if meta else ("", "", "")
                row = (fmt_started(info), user, conn, kind, fmt_size(info.size), info.session_id)
                table.add_row(*map(cell, row))
                self._rows.append((info.session_id, 0.0))
            total = len(self.infos)
            if not total:
                self._status("No recordings that you may view.")
            else:
                self._status(f"{len(shown)} of {total} recordings · Enter to replay")
            return
        table.clear(columns=True)
        table.add_columns(*MATCH_COLUMNS)
        for found in self.matches:
            rec = by_id.get(found.session_id)
            if rec is None or not filters.matches(rec):
                continue
            meta = rec.header.meta
            m = found.match
            row = (
                found.session_id,
                fmt_time(m.time),
                meta.user if meta else "",
                meta.connection if meta else "",
                "ran" if m.kind == "command" else "shown",
                m.line_text.strip()[:200],
            )
            table.add_row(*map(cell, row))
            self._rows.append((found.session_id, m.time))
        sessions = len({sid for sid, _ in self._rows})
        if not self._rows:
            self._status(f"No recording you may view showed or ran {self.search_text!r}.")
        else:
            self._status(
                f"{len(self._rows)} moments in {sessions} sessions for {self.search_text!r}"
                " · Enter replays from there"
            )

    # -- events and actions -----------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "rec-text":
            if not event.value.strip() and self.matches is not None:
                self.matches, self.search_text = None, ""
                self.refill()
            return
        self.refill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if event.input.id == "rec-text" and text and text != self.search_text:
            self.search(text)
        else:
            self.action_open()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_move(self, delta: int) -> None:
        table = self.query_one("#recordings", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + delta)))

    def action_reload(self) -> None:
        if self.search_text:
            self.search(self.search_text)
        self.load()

    def action_back(self) -> None:
        self.dismiss()

    def action_open(self) -> None:
        table = self.query_one("#recordings", DataTable)
        if not self._rows or not 0 <= table.cursor_row < len(self._rows):
            self._status("Nothing selected.", error=True)
            return
        session_id, moment = self._rows[table.cursor_row]
        self.open_recording(session_id, moment)

    @work(exclusive=True, group="open", exit_on_error=False)
    async def open_recording(self, session_id: str, moment: float) -> None:
        """Open a recording through the services and push the player at ``moment``."""
        app = self.gh_app
        self._status(f"Opening {session_id}…")
        try:
            viewing = await app.services.review.open_recording(app.principal, session_id)
        except (GatehouseError, RecordingError) as exc:
            self._status(f"Cannot open {session_id}: {exc}", error=True)
            return
        except Exception:
            log.exception("[%s] opening recording %s failed", app.principal.name, session_id)
            self._status(f"Cannot open {session_id}: internal error", error=True)
            return
        self._status(f"Replaying {session_id}.")
        await app.push_screen(
            ReplayScreen(
                viewing.player,
                on_close=lambda: self._close_viewing(viewing),
                title=f"Replay {session_id}",
                start=moment,
                search=self.search_text,
            )
        )

    async def _close_viewing(self, viewing: Viewing) -> None:
        app = self.gh_app
        await app.services.review.close_recording(app.principal, viewing)
        if self.is_attached:
            self.refill()
