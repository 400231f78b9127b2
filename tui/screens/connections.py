"""The connection picker: the connections the user's groups allow, filter-as-you-type, Enter."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import Worker, WorkerState

from broker.approvals.asks import ApprovalRefused, Ask
from broker.common.errors import GatehouseError, RecordingError
from broker.common.text import escape_controls
from tui.screens.approval_wait import WaitingScreen
from tui.screens.approvals import CommentModal
from tui.screens.sql_console import SqlConsoleScreen
from tui.text import cell, plain

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from broker.approvals.core import Request
    from broker.services import ConnectionView
    from tui.app import GatehouseApp


class FilterInput(Input):
    """The filter box; `q` and `?` act as commands while it is empty, Enter connects.

    Enter decides the connection and holds input at once, in this handler: keys typed
    right after it may already wait in this widget's queue, and while input is held
    they are given back to the channel for the session instead of being typed here.
    """

    BINDINGS = [Binding("enter", "submit", "Connect")]

    COMMAND_KEYS = frozenset(("q", "question_mark", "r", "a"))
    """Keys that act as commands while the box is empty (the footer shows them then)."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        if not self.value and key in self.COMMAND_KEYS:
            return False
        return super().check_consume_key(key, character)

    async def _on_key(self, event: events.Key) -> None:
        screen = self.screen
        if isinstance(screen, ConnectionsScreen) and screen.take_typed_ahead(event):
            return
        if event.key == "enter" and isinstance(screen, ConnectionsScreen):
            event.stop()
            event.prevent_default()
            screen.action_connect()
            return
        if not self.value and event.key in ("q", "question_mark"):
            event.stop()
            event.prevent_default()
            app = self.app
            if event.key == "q":
                app.exit()
            else:
                await app.run_action("help")
            return
        await super()._on_key(event)

    def _on_paste(self, event: events.Paste) -> None:
        screen = self.screen
        if isinstance(screen, ConnectionsScreen) and screen.gh_app.input_held:
            event.stop()
            event.prevent_default()
            screen.gh_app.give_back(event)
            return
        super()._on_paste(event)


class ConnectionTable(DataTable[Text]):
    """The list of connections; Enter connects at once, like Enter in the filter."""

    async def _on_key(self, event: events.Key) -> None:
        screen = self.screen
        if isinstance(screen, ConnectionsScreen):
            if screen.take_typed_ahead(event):
                return
            if event.key == "enter":
                event.stop()
                event.prevent_default()
                screen.action_connect()
                return
        await super()._on_key(event)


def _matches(view: ConnectionView, text: str) -> bool:
    hay = f"{view.name} {view.type} {view.target} {view.description}".lower()
    return all(word in hay for word in text.lower().split())


class ConnectionsScreen(Screen[None]):
    """Pick a connection and open a pass-through session on it."""

    TITLE = "Connections"
    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("enter", "connect", "Connect"),
        Binding("question_mark", "app.help", "Help"),
        Binding("q", "app.quit", "Quit"),
        Binding("ctrl+q", "app.quit", "Quit", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._views: list[ConnectionView] = []
        self._shown: list[ConnectionView] = []

    @property
    def gh_app(self) -> GatehouseApp:
        from tui.app import GatehouseApp

        assert isinstance(self.app, GatehouseApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield Header()
        yield FilterInput(placeholder="type to filter connections", id="filter")
        yield ConnectionTable(id="connections", cursor_type="row", zebra_stripes=True)
        yield Static("", id="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#connections", DataTable)
        table.add_columns("connection", "type", "target", "access", "description")
        self._views = self.gh_app.services.connections_for(self.gh_app.principal)
        self._refill("")
        self.query_one("#filter", FilterInput).focus()
        if not self._views:
            groups = ", ".join(self.gh_app.principal.groups) or "none"
            self._status(
                f"No connection is open to you (your groups: {groups}). Ask an administrator.",
                error=True,
            )

    def _refill(self, text: str) -> None:
        table = self.query_one("#connections", DataTable)
        shown = [v for v in self._views if _matches(v, text)]
        if shown == self._shown and table.row_count == len(shown):
            self._status_counts(text)
            return  # same rows: no redraw of the table on this keystroke
        table.clear()
        self._shown = shown
        for view in self._shown:
            access = "⏳ approval" if view.needs_approval else "allowed"
            table.add_row(
                *map(cell, (view.name, view.type, view.target, access, view.description)),
                key=view.name,
            )
        self._status_counts(text)

    def _status_counts(self, text: str) -> None:
        if self._views and not self._shown:
            self._status(f"No connection matches {text!r}.")
        elif self._views:
            self._status(f"{len(self._shown)} of {len(self._views)} connections · Enter to connect")

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.update(plain(text))
        status.set_class(error, "error")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._refill(event.value)
        self.refresh_bindings()  # q ? r a are commands only while the filter is empty

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # Enter in the filter connects in FilterInput's key handler

    def take_typed_ahead(self, event: events.Key) -> bool:
        """While input is held for a session, give ``event`` back to the channel.

        Returns:
            True when the key was given back (and must not act here).
        """
        app = self.gh_app
        if not app.input_held:
            return False
        event.stop()
        event.prevent_default()
        app.give_back(event)
        return True

    def on_key(self, event: events.Key) -> None:
        self.take_typed_ahead(event)  # keys that reach the screen (the table had focus)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_connect()

    def action_move(self, delta: int) -> None:
        table = self.query_one("#connections", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + delta)))

    def action_clear_filter(self) -> None:
        self.query_one("#filter", FilterInput).value = ""

    @property
    def selected(self) -> ConnectionView | None:
        table = self.query_one("#connections", DataTable)
        if not self._shown or not 0 <= table.cursor_row < len(self._shown):
            return None
        return self._shown[table.cursor_row]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "session" and event.state == WorkerState.CANCELLED:
            self.gh_app.release_input()  # cancelled before it could open the session

    def connect_to(self, name: str) -> None:
        """Select ``name`` (clearing a filter that hides it) and connect."""
        if name not in (v.name for v in self._shown):
            self.action_clear_filter()
            self._refill("")
        table = self.query_one("#connections", DataTable)
        for row, view in enumerate(self._shown):
            if view.name == name:
                table.move_cursor(row=row)
                self.action_connect()
                return
        self._status(f"{name} is not open to you.", error=True)

    def action_connect(self) -> None:
        view = self.selected
        if view is None:
            self._status("Nothing selected.", error=True)
            return
        if view.type == "postgres" and not view.needs_approval:
            self._status(f"SQL console on {view.name}…")
            self.app.push_screen(SqlConsoleScreen(view.name), self._console_closed(view.name))
            return
        self._status(f"Connecting to {view.name}…")
        if not view.needs_approval:
            # now, not when the worker starts: keys typed from here on are for the target
            self.gh_app.hold_input()
        self.open_session(view.name, needs_approval=view.needs_approval)

    def _console_closed(self, name: str) -> Callable[[str | None], None]:
        def closed(error: str | None) -> None:
            if error is None:
                self._status(f"SQL console on {name} closed.")
            else:
                self._status(error, error=True)

        return closed

    def _ask_justification(self, name: str) -> None:
        def done(reason: str | None) -> None:
            if reason is None:
                self._status(f"No request made for {name}.")
            else:
                self.open_session(name, needs_approval=True, reason=reason)

        self.app.push_screen(
            CommentModal(
                f"{name} needs an approval: why do you need access?",
                required=True,
                placeholder="justification (e.g. the ticket)",
            ),
            done,
        )

    @work(exclusive=True, group="session", exit_on_error=False)
    async def open_session(
        self, name: str, *, needs_approval: bool = False, reason: str | None = None
    ) -> None:
        """Open the session, step aside for the pass-through, come back when it ends.

        Where policy asks for an approval and no grant covers it, ask for a justification,
        then wait (on the waiting screen) for the decision.
        """
        app = self.gh_app
        ask = None
        if needs_approval:
            if reason is None:
                if await app.services.approvals.grant(app.principal.name, name, None) is None:
                    self._ask_justification(name)
                    return
            else:
                ask = Ask(
                    reason=reason,
                    waiting=self._waiting,
                    decided=self._decided,
                    gone=lambda: app.channel.closed,
                )
        app.hold_input()  # keys typed while the target connects are for the target
        try:
            try:
                session = await app.services.open_terminal(
                    app.principal, name, app.channel, ask=ask
                )
            except BaseException:
                self._done_waiting()
                app.release_input()
                raise
            try:
                with app.step_aside():
                    result = await session.run()
            finally:
                app.release_input()  # the TUI reads the user's keys again
        except (GatehouseError, RecordingError) as exc:
            # errors can quote the target (a failed command, a banner): mask like its output
            message = app.services.mask_message(
                str(exc), connection=name, groups=app.principal.groups
            )
            self._status(f"{name}: {message}", error=True)
            self.notify(
                escape_controls(message),
                # denied, cancelled or expired: the wait is over and nothing was granted
                title="Not approved" if isinstance(exc, ApprovalRefused) else "Cannot connect",
                severity="error",
                timeout=8,
                markup=False,
            )
            return
        except Exception:
            log.exception("[%s] session on %s failed", app.principal.name, name)
            self._status(f"{name}: internal error; the session was ended", error=True)
            return
        masked = f" · {result.masked}" if result.masked else ""
        self._status(f"Session on {name} ended (exit status {result.exit_status}){masked}.")

    def _waiting(self, request: Request) -> None:
        """The request is pending: show the waiting screen (keys go to it meanwhile)."""
        self.gh_app.release_input()
        self.app.push_screen(WaitingScreen(request))

    def _decided(self, request: Request) -> None:
        """The wait is over: keys typed from now on are for the session about to open."""
        self._done_waiting()
        self.gh_app.hold_input()

    def _done_waiting(self) -> None:
        if isinstance(self.app.screen, WaitingScreen):
            self.app.pop_screen()
