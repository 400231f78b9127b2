"""The SQL console pane: an editor, a schema browser and a result read page by page.

Opened from the picker for a `postgres` connection. The screen only renders: every statement
goes to the broker's console (:class:`~broker.session.sqlconsole.SqlConsole`), which decides,
runs, masks, audits and records it, in workers that belong to this screen.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, Tree

from broker.approvals.asks import Ask
from broker.common.errors import GatehouseError, RecordingError
from broker.session.sqlresult import Held, StatementResult
from broker.sql.locate import line_col, offset_of, statement_at
from broker.upstream.pgschema import Relation
from tui.screens.approvals import CommentModal
from tui.text import plain
from tui.widgets.approval_wait import ApprovalWait
from tui.widgets.results_table import ResultsTable
from tui.widgets.sql_editor import SqlEditor, sql_editor

if TYPE_CHECKING:
    from broker.approvals.core import Request
    from broker.session.sqlconsole import SqlConsole
    from tui.app import GatehouseApp

log = logging.getLogger(__name__)

MAX_HISTORY = 500
WAIT_HINT = "Runs by itself, exactly as asked, once approved · Esc or F8 withdraws the request"
TRANSACTION_NOTES = {
    "idle": "",
    "open": " · transaction open (COMMIT or ROLLBACK)",
    "aborted": " · transaction ABORTED: ROLLBACK to go on",
}


class SqlConsoleScreen(Screen[str | None]):
    """Run SQL on one postgres connection through the broker.

    Dismissed with None when closed, or with the reason it could not open.
    """

    TITLE = "SQL console"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+enter", "run", "Run", show=False, priority=True),
        Binding("f5", "run", "Run", priority=True),
        Binding("f8", "cancel", "Cancel", priority=True),
        Binding("f7", "count", "Count rows", priority=True),
        Binding("f6", "focus_next_pane", "Next pane", priority=True),
        Binding("f9", "refresh_schema", "Reload schema", priority=True),
        Binding("ctrl+l", "clear", "Clear editor", show=False, priority=True),
        Binding("escape", "close", "Close", priority=True),
    ]

    def __init__(self, connection: str) -> None:
        super().__init__()
        self.connection = connection
        self.console: SqlConsole | None = None
        self.history: list[str] = []
        self._history_at = 0
        self._sent_at = 0
        """Where the text last sent starts in the editor (error positions are relative)."""
        self.result: StatementResult | None = None
        self.running = False
        self.waiting: Request | None = None
        """The request a statement waits for (the editor stays usable meanwhile)."""

    @property
    def gh_app(self) -> GatehouseApp:
        from tui.app import GatehouseApp

        assert isinstance(self.app, GatehouseApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="sql-body"):
            yield Tree("schemas", id="sql-schema")
            with Vertical(id="sql-main"):
                yield sql_editor()
                yield Static("", id="sql-status", markup=False)
                yield ResultsTable(id="sql-results")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.connection
        self.query_one("#sql-schema", Tree).show_root = False
        self.query_one(SqlEditor).focus()
        self._status(f"Connecting to {self.connection}…")
        self.open_console()

    @work(exclusive=True, group="sql-open", exit_on_error=False)
    async def open_console(self) -> None:
        app = self.gh_app
        size = (app.channel.cols, app.channel.rows)
        try:
            self.console = await app.services.open_sql_console(app.principal, self.connection, size)
        except (GatehouseError, RecordingError) as exc:
            message = app.services.mask_message(
                str(exc), connection=self.connection, groups=app.principal.groups
            )
            self.notify(message, title="Cannot connect", severity="error", markup=False)
            self.dismiss(f"{self.connection}: {message}")
            return
        table = self.query_one(ResultsTable)
        table.page_rows = self.console.page_rows
        read_only = " (read-only)" if self.console.conn.read_only else ""
        self.sub_title = f"{self.connection}{read_only}"
        self._status(f"Connected to {self.connection}{read_only}. F5 or Ctrl+Enter runs.")
        await self._load_schema()

    async def _load_schema(self) -> None:
        if self.console is None:
            return
        try:
            relations = await self.console.relations()
        except GatehouseError as exc:
            self.notify(str(exc), title="Schema", severity="warning", markup=False)
            return
        self.show_schema(relations)

    def show_schema(self, relations: list[Relation]) -> None:
        tree = self.query_one("#sql-schema", Tree)
        tree.clear()
        schemas: dict[str, object] = {}
        for relation in relations:
            node = schemas.get(relation.schema)
            if node is None:
                node = schemas[relation.schema] = tree.root.add(plain(relation.schema), expand=True)
            label = Text(relation.name)
            if relation.kind != "table":
                label.append(f" ({relation.kind})", style="dim")
            table = node.add(label)  # type: ignore[attr-defined]
            for column in relation.columns:
                entry = Text(column.name)
                entry.append(f" {column.type}", style="dim")
                table.add_leaf(entry)

    # -- running ------------------------------------------------------------------

    def _text_to_run(self) -> tuple[str, int]:
        editor = self.query_one(SqlEditor)
        if editor.selected_text.strip():
            start = min(editor.selection.start, editor.selection.end)
            return editor.selected_text, offset_of(editor.text, start)
        text = editor.text
        span = statement_at(text, offset_of(text, editor.cursor_location))
        if span is None:
            return "", 0
        return text[span[0] : span[1]], span[0]

    def action_run(self) -> None:
        # Keys typed just before may still wait in the editor's queue (a pasted or quickly
        # typed statement, then F5): run once they are in.
        self.query_one(SqlEditor).call_later(self._run_now)

    def _run_now(self) -> None:
        if self.console is None:
            self._status("Not connected.", error=True)
            return
        if self.waiting is not None:
            self._status(
                f"{self.waiting.id} is waiting for approval: one statement at a time "
                "(Esc or F8 withdraws the request).",
                error=True,
            )
            return
        if self.running:
            self._status("A statement is running (F8 cancels it).", error=True)
            return
        text, start = self._text_to_run()
        if not text.strip():
            self._status("Nothing to run: type a statement.", error=True)
            return
        self._sent_at = start
        if not self.history or self.history[-1] != text:
            self.history = [*self.history, text][-MAX_HISTORY:]
        self._history_at = len(self.history)
        self.running = True
        self._status("Running… (F8 cancels)")
        self.run_statement(text)

    @work(exclusive=True, group="sql-run", exit_on_error=False)
    async def run_statement(self, text: str) -> None:
        console = self.console
        assert console is not None
        try:
            console.mark(text)
            result: StatementResult | None = await console.execute(text)
            if result is not None and result.held is not None:
                result = await self._ask_approval(console, text, result.held)
        except (GatehouseError, RecordingError) as exc:
            self._status(f"{self.connection}: {exc}", error=True)
            return
        finally:
            self.running = False
            self._end_wait()
        if result is not None:
            self.show_result(result)

    async def _ask_approval(
        self, console: SqlConsole, text: str, held: Held
    ) -> StatementResult | None:
        """Ask for the approval ``held`` says is needed, wait for it, run ``text`` if approved.

        Returns:
            What ran or why not; None if the user gave no justification (nothing was asked).
        """
        reason = ""
        if held.reason_required:
            answer = await self.app.push_screen_wait(
                CommentModal(
                    f"This statement needs an approval (rule {held.rule}, {held.needed} of "
                    f"{', '.join(held.approvers)}): why do you need it?",
                    required=True,
                    placeholder="justification (e.g. the ticket)",
                )
            )
            if answer is None:
                self._status("No request made: the statement did not run.")
                return None
            reason = answer
        self._status("Asking for an approval…")
        channel = self.gh_app.channel
        ask = Ask(
            reason=reason,
            waiting=self._waiting,
            decided=self._decided,
            gone=lambda: channel.closed,
        )
        return await console.execute(text, ask)

    def _waiting(self, request: Request) -> None:
        """The request is pending: show it above the status line; the editor stays usable."""
        self.waiting = request
        self.query_one("#sql-main").mount(
            ApprovalWait(request, WAIT_HINT, id="sql-waiting"), before="#sql-status"
        )
        self._status(f"Waiting for approval {request.id}…")

    def _decided(self, request: Request) -> None:
        self._end_wait()
        if request.status == "approved":
            self._status(f"{request.id} approved: running… (F8 cancels)")

    def _end_wait(self) -> None:
        self.waiting = None
        for shown in self.query("#sql-waiting"):
            shown.remove()

    def action_withdraw(self) -> None:
        self.withdraw_request()

    @work(exclusive=True, group="sql-withdraw", exit_on_error=False)
    async def withdraw_request(self) -> None:
        console = self.console
        if console is None or console.approvals is None:
            return
        self._status("Withdrawing the request…")
        try:
            await console.approvals.withdraw()
        except GatehouseError as exc:  # decided in the meantime: its outcome follows
            for shown in self.query(ApprovalWait):
                shown.say(str(exc))

    def show_result(self, result: StatementResult) -> None:
        self.result = result
        table = self.query_one(ResultsTable)
        if result.error:
            where = ""
            if result.position is not None:
                editor = self.query_one(SqlEditor)
                line, column = line_col(editor.text, self._sent_at + result.position)
                editor.cursor_location = (line, column)
                where = f" (line {line + 1}, column {column + 1})"
            word = "ERROR"
            if result.refused:
                word = "Not approved" if result.status == "NOT APPROVED" else "Refused"
            self._status(
                f"{word}{where}: {result.error}{TRANSACTION_NOTES[result.transaction]}",
                error=True,
            )
            return
        table.show(result.columns, result.numeric, result.first, result.total)
        self._status(self._summary(result, table))

    def _summary(self, result: StatementResult, table: ResultsTable) -> str:
        ms = f"{result.elapsed * 1000:.0f} ms"
        if result.columns:
            rows = f"{table.total:,} rows" if table.total is not None else f"{table.loaded:,}+ rows"
            what = f"{rows} · {ms}"
        else:
            what = f"{result.status} · {ms}"
        masked = f" · {result.masked} masked" if result.masked else ""
        approved = f" · approved as {result.approval}" if result.approval else ""
        return f"{what}{masked}{approved}{TRANSACTION_NOTES[result.transaction]}"

    def action_clear(self) -> None:
        editor = self.query_one(SqlEditor)
        editor.text = ""
        self._history_at = len(self.history)
        editor.focus()

    def action_cancel(self) -> None:
        if self.waiting is not None:
            self.action_withdraw()
        elif self.console is not None and self.console.cancel():
            self._status("Cancel request sent…")
        else:
            self._status("Nothing is running.")

    def on_results_table_page_needed(self, event: ResultsTable.PageNeeded) -> None:
        self.fetch_page(event.start)

    @work(group="sql-page", exit_on_error=False)
    async def fetch_page(self, start: int) -> None:
        if self.console is None:
            return
        try:
            page = await self.console.page(start)
        except GatehouseError as exc:
            self._status(f"ERROR: {exc}", error=True)
            return
        if page is not None:
            table = self.query_one(ResultsTable)
            table.add_page(page)
            if self.result is not None:
                self._status(self._summary(self.result, table))

    def action_count(self) -> None:
        self.count_rows()

    @work(exclusive=True, group="sql-count", exit_on_error=False)
    async def count_rows(self) -> None:
        if self.console is None:
            return
        self._status("Counting rows…")
        try:
            total = await self.console.count()
        except GatehouseError as exc:
            self._status(f"ERROR: {exc}", error=True)
            return
        table = self.query_one(ResultsTable)
        if total is not None:
            table.set_total(total)
        if self.result is not None:
            self._status(self._summary(self.result, table))

    def action_refresh_schema(self) -> None:
        self.refresh_schema()

    @work(exclusive=True, group="sql-schema", exit_on_error=False)
    async def refresh_schema(self) -> None:
        await self._load_schema()

    def action_focus_next_pane(self) -> None:
        self.focus_next()

    def on_sql_editor_history_walked(self, event: SqlEditor.HistoryWalked) -> None:
        if not self.history:
            return
        self._history_at = max(0, min(len(self.history), self._history_at + event.step))
        editor = self.query_one(SqlEditor)
        text = self.history[self._history_at] if self._history_at < len(self.history) else ""
        editor.text = text
        editor.cursor_location = editor.document.end if event.step < 0 else (0, 0)

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#sql-status", Static)
        status.update(plain(text))
        status.set_class(error, "error")

    # -- closing ------------------------------------------------------------------

    async def action_close(self) -> None:
        if self.waiting is not None:  # Esc withdraws the request first, as on a waiting screen
            self.action_withdraw()
            return
        console, self.console = self.console, None
        if console is not None:
            await console.close()
        self.dismiss(None)

    def on_unmount(self) -> None:
        console, self.console = self.console, None
        if console is not None:  # the user left (or the connection ended) without Esc
            self.gh_app.services.spawn(console.close())
