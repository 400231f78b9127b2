"""The approvers' queue pane: pending requests, one in detail, approve or deny with a comment."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Header, Input, Static

from broker.common.errors import GatehouseError
from tui.text import plain
from tui.widgets.approval_table import ApprovalTable, widths_of
from tui.widgets.approval_wait import age

if TYPE_CHECKING:
    from broker.approvals.core import Request
    from tui.app import GatehouseApp

HISTORY_SECONDS = 2.0
"""How often the history list is read again while shown (it changes slowly and is longer)."""


def detail(request: Request, now: float) -> str:
    """One request in full, as the approver reads it before deciding."""
    lines = [
        f"{request.id} · rule {request.rule} · asked {age(now - request.created)} ago",
        f"requester: {request.requester}",
        f"connection: {request.connection}",
    ]
    if request.command is not None:
        lines.append(f"command: {request.command}")
    lines += [
        f"approvals: {len(request.approved_by)} of {request.needed}"
        + (f" (by {', '.join(request.approved_by)})" if request.approved_by else ""),
        f"approver groups: {', '.join(request.approvers)}",
        f"justification: {request.reason or '(none)'}",
    ]
    return "\n".join(lines)


class CommentModal(ModalScreen[str | None]):
    """Ask for one line of text: an approver's comment, or a requester's justification."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, title: str, *, required: bool, placeholder: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.required = required
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="comment-box"):
            yield Static(plain(self.title_text), id="comment-title")
            yield Input(placeholder=self.placeholder, id="comment", max_length=1000)
            yield Static("", id="comment-error")
            yield Static(
                "Enter to confirm · Esc to cancel" + ("" if self.required else " · may be empty"),
                id="comment-help",
            )

    def on_mount(self) -> None:
        self.query_one("#comment", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.required and not event.value.strip():
            self.query_one("#comment-error", Static).update(plain("This cannot be empty."))
            return
        self.dismiss(event.value.strip())

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


PENDING_COLUMNS = ("request", "requester", "for", "approvals", "age", "rule", "justification")
HISTORY_COLUMNS = ("request", "requester", "for", "outcome", "by", "when", "comment")


def row(request: Request, now: float, *, history: bool) -> tuple[str, ...]:
    """The table cells of ``request`` in the pending or the history list."""
    if not history:
        return (
            request.id,
            request.requester,
            request.describe(),
            f"{len(request.approved_by)}/{request.needed}",
            age(now - request.created),
            request.rule,
            request.reason,
        )
    closed = request.closed_at or request.created
    by = ", ".join(v.approver for v in request.votes) or "-"
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(closed))
    return (request.id, request.requester, request.describe(), request.status, by, when,
            request.final_comment)  # fmt: skip


def haystack(request: Request) -> str:
    """What the filter searches in ``request``: id, people, target, rule and text, lower-cased."""
    return " ".join(
        (
            request.id,
            request.requester,
            request.describe(),
            request.rule,
            request.status,
            request.reason,
            *(f"{v.approver} {v.comment}" for v in request.votes),
        )
    ).lower()


def matches(request: Request, text: str) -> bool:
    """Whether every word of ``text`` is in the request's id, people, target, rule or text."""
    hay = haystack(request)
    return all(word in hay for word in text.lower().split())


class ApprovalsScreen(Screen[None]):
    """Pending requests the user may decide (never their own), refreshed as they change; `h`
    shows the history of decided requests; `/` filters either list as you type."""

    BINDINGS = [
        Binding("y", "decide(True)", "Approve"),
        Binding("n", "decide(False)", "Deny"),
        Binding("h", "toggle_history", "History"),
        Binding("slash", "focus_filter", "Filter"),
        Binding("escape", "back", "Back"),
        Binding("q", "app.pop_screen", "Back", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.history = False
        """Showing decided requests instead of pending ones."""
        self.items: list[Request] = []
        """What the store returned for the current list."""
        self.pending: list[Request] = []
        """What the table shows (``items`` that pass the filter)."""
        self.filter_text = ""
        self._rows: list[tuple[str, ...]] = []
        """The table cells of each of ``items``."""
        self._hay: list[str] = []
        """What the filter searches in each of ``items`` (lower-cased)."""
        self._widths: list[int] = []
        """Column widths fitted to every item (they stay put while the filter changes)."""
        self._texts: dict[str, str] = {}
        """What each Static shows now."""

    @property
    def gh_app(self) -> GatehouseApp:
        from tui.app import GatehouseApp

        assert isinstance(self.app, GatehouseApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="/ to filter · h history", id="approvals-filter")
        yield ApprovalTable(id="approvals-table")
        yield Static("", id="approval-detail", markup=False)
        yield Static("", id="approvals-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#approvals-table", ApprovalTable)
        table.fill(PENDING_COLUMNS, [], None)
        table.focus()
        self.watch_queue()
        self.set_interval(HISTORY_SECONDS, self._history_tick)

    @work(exclusive=True, group="approvals-watch", exit_on_error=False)
    async def watch_queue(self) -> None:
        """Read the pending requests again each time they change (in any broker process)."""
        approvals = self.gh_app.services.approvals
        seen = -1
        while True:
            seen = await approvals.changes(seen)
            if not self.history:
                await self._load()

    def _history_tick(self) -> None:
        if self.history:
            self.refresh_queue()

    @work(exclusive=True, group="approvals-load", exit_on_error=False)
    async def refresh_queue(self) -> None:
        await self._load()

    async def _load(self) -> None:
        app = self.gh_app
        approvals = app.services.approvals
        history = self.history
        try:
            if history:
                items = await approvals.history_for(app.principal.name, app.principal.groups)
            else:
                items = await approvals.pending_for(app.principal.name, app.principal.groups)
        except GatehouseError as exc:
            self._status(f"cannot read the queue: {exc}", error=True)
            return
        if history == self.history:  # not switched meanwhile
            self.show(items)

    def show(self, items: list[Request]) -> None:
        """Take the list the store returned: index it (cells, widths, what the filter searches)
        when it or a cell (an age) changed, then show what passes the filter."""
        rows = [row(r, self.gh_app.clock(), history=self.history) for r in items]
        if rows == self._rows and items == self.items:
            self._apply_filter(refill=False)  # read again, unchanged: nothing to index
            return
        self.items = items
        self._rows = rows
        self._hay = [haystack(r) for r in items]
        columns = HISTORY_COLUMNS if self.history else PENDING_COLUMNS
        self._widths = widths_of(columns, rows)
        self._apply_filter(refill=True)  # a refill is cheap: the ages shown are current

    def _apply_filter(self, *, refill: bool) -> None:
        """Show the requests that pass the filter, keeping the cursor on the same request when
        it is still there. A key costs a pass over the index and what is visible; the table is
        refilled only when the list it shows changed."""
        words = self.filter_text.lower().split()
        keep = [i for i, hay in enumerate(self._hay) if all(w in hay for w in words)]
        shown = [self.items[i] for i in keep]
        current = self.selected
        if (
            refill
            or [r.id for r in shown] != [r.id for r in self.pending]
            or any(
                (a.votes, a.status) != (b.votes, b.status)
                for a, b in zip(shown, self.pending, strict=False)
            )
        ):
            self.pending = shown
            self.query_one("#approvals-table", ApprovalTable).fill(
                HISTORY_COLUMNS if self.history else PENDING_COLUMNS,
                [self._rows[i] for i in keep],
                None if current is None else current.id,
                self._widths,
            )
        self._show_detail()
        self._status(self._summary())

    def _summary(self) -> str:
        count, total = len(self.pending), len(self.items)
        shown = f"{count} of {total}" if count != total else str(count)
        if self.history:
            return f"{shown} decided request{'s' if total != 1 else ''} · h pending · Esc back"
        if not total:
            return "No request is waiting for you."
        return f"{shown} pending request{'s' if total != 1 else ''} · y approve · n deny · Esc back"

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "approvals-filter":
            self.filter_text = event.value
            self._apply_filter(refill=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "approvals-filter":
            self.query_one("#approvals-table", ApprovalTable).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#approvals-filter", Input).focus()

    def action_back(self) -> None:
        box = self.query_one("#approvals-filter", Input)
        if box.has_focus:
            self.query_one("#approvals-table", ApprovalTable).focus()
        else:
            self.app.pop_screen()

    def action_toggle_history(self) -> None:
        self.history = not self.history
        self.show([])
        self.query_one("#approvals-table", ApprovalTable).fill(
            HISTORY_COLUMNS if self.history else PENDING_COLUMNS, [], None
        )
        self.refresh_queue()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("decide", "toggle_history") and isinstance(self.focused, Input):
            return False  # letters typed in the filter are text
        return not (action == "decide" and self.history)

    @property
    def selected(self) -> Request | None:
        table = self.query_one("#approvals-table", ApprovalTable)
        if not self.pending or not 0 <= table.cursor_row < len(self.pending):
            return None
        return self.pending[table.cursor_row]

    def on_approval_table_row_highlighted(self, event: ApprovalTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        request = self.selected
        text = detail(request, self.gh_app.clock()) if request is not None else ""
        self._update("#approval-detail", text, multiline=True)

    def _status(self, text: str, *, error: bool = False) -> None:
        self._update("#approvals-status", text)
        self.query_one("#approvals-status", Static).set_class(error, "error")

    def _update(self, selector: str, text: str, *, multiline: bool = False) -> None:
        """Show ``text`` in a Static unless it already does (an update lays the screen out
        again: not on every key typed in the filter)."""
        if self._texts.get(selector) != text:
            self._texts[selector] = text
            self.query_one(selector, Static).update(plain(text, multiline=multiline))

    def action_decide(self, approved: bool) -> None:
        request = self.selected
        if request is None:
            self._status("Nothing selected.", error=True)
            return
        verb = "Approve" if approved else "Deny"
        modal = CommentModal(
            f"{verb} {request.id} ({request.requester} → {request.describe()})",
            required=not approved,
            placeholder="comment" if approved else "reason (the requester is shown it)",
        )

        def done(comment: str | None) -> None:
            if comment is not None:
                self.decide(request.id, approved, comment)

        self.app.push_screen(modal, done)

    @work(exclusive=True, group="approvals-decide", exit_on_error=False)
    async def decide(self, request_id: str, approved: bool, comment: str) -> None:
        app = self.gh_app
        try:
            decided = await app.services.approvals.decide(
                app.principal.name,
                app.principal.groups,
                request_id,
                approved=approved,
                comment=comment,
            )
        except GatehouseError as exc:
            self._status(str(exc), error=True)
            return
        self.post_message(self.Decided(decided))
        self.refresh_queue()

    class Decided(Message):
        """A decision was recorded."""

        def __init__(self, request: Request) -> None:
            super().__init__()
            self.request = request

    def on_approvals_screen_decided(self, event: ApprovalsScreen.Decided) -> None:
        request = event.request
        self.notify(
            f"{request.id}: {request.status}",
            title="Decision recorded",
            markup=False,
        )
