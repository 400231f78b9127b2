"""The audit pane (auditors only): a live, filtered tail of the signed audit log."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from broker.auditchain.record import AuditRecord
from broker.auditlog.query import RecordFilter, RecordView
from broker.common.errors import GatehouseError
from broker.common.text import escape_controls
from broker.review.audit import FilterText, LiveVerifier, parse_filter
from tui.text import plain
from tui.widgets.audit_table import AuditTable, is_pending, live_view

if TYPE_CHECKING:
    from textual.app import App
    from textual.worker import Worker

    from broker.services import Services
    from broker.session.terminal import Principal
    from tui.app import GatehouseApp

log = logging.getLogger(__name__)

LIMIT: Final = 500
"""Records read back when the pane opens or a filter is applied."""

_FIELDS: Final = (
    ("user", "user", "exact user name"),
    ("action", "action", "an action or its start: login, recording.closed"),
    ("target", "target", "exact connection or target"),
    ("since", "since 24h", "24h, 7d, 2026-11-22 or an RFC 3339 time"),
    ("until", "until", "a date (to its end) or an RFC 3339 time"),
)
"""Filter fields: name, placeholder (fits a fifth of 80 columns), tooltip."""


def can_audit(services: Services, principal: Principal) -> bool:
    """Tell whether ``principal`` may open the audit pane (holds the auditors role)."""
    return services.review.is_auditor(principal)


def audit_key_enabled(app: App[None]) -> bool:
    """Tell whether `a` opens the pane now: on the picker, unless text is being typed."""
    from tui.screens.connections import ConnectionsScreen

    focused = app.focused
    typing = isinstance(focused, Input) and bool(focused.value)
    return isinstance(app.screen, ConnectionsScreen) and not typing


def describe(where: RecordFilter) -> str:
    """The active filters in a few words (``"all records"`` when none)."""
    parts = [
        f"{label} {value}"
        for label, value in (
            ("user", where.actor),
            ("action", where.action),
            ("target", where.target),
            ("since", where.since.isoformat() if where.since else ""),
            ("until", where.until.isoformat() if where.until else ""),
        )
        if value
    ]
    return ", ".join(parts) or "all records"


def summary(views: list[RecordView]) -> tuple[str, bool]:
    """Counts and the chain's state for the status line; the flag is True on a problem."""
    bad = [v for v in views if not v.ok and not is_pending(v)]
    pending = sum(1 for v in views if is_pending(v))
    text = f"{len(views)} record{'s' if len(views) != 1 else ''}"
    if pending:
        text += f" · {pending} awaiting verification"
    if not bad:
        return f"{text} · ✓ chain verified" if views else text, False
    first = bad[0]
    where = f"seq {first.record.seq}" if first.record else f"a line in {first.segment}"
    return f"{text} · ✗ {len(bad)} failed; first: {where}: {first.status}", True


class AuditDetailScreen(ModalScreen[None]):
    """One record in full, with its verification status and reason."""

    BINDINGS = [Binding("escape,q", "dismiss", "Back")]

    def __init__(self, view: RecordView) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        view = self.view
        if view.ok:
            verdict = "✓ verified: signature and chain link check out"
        elif is_pending(view):
            verdict = f"… {view.status}"
        else:
            verdict = f"✗ {view.status}"
        if view.record is not None:
            body = json.dumps(view.record.to_dict(), indent=2, ensure_ascii=False)
            title = f"Audit record {view.record.seq} · {view.record.action}"
        else:
            body = view.line.decode("utf-8", errors="replace")
            title = "Malformed audit line"
        with VerticalScroll(id="audit-detail") as box:
            box.border_title = "Audit record"
            yield Static(plain(title), id="audit-detail-title", markup=False)
            yield Static(
                plain(verdict),
                id="audit-detail-verdict",
                classes="ok" if view.ok else "bad",
                markup=False,
            )
            if view.segment:
                yield Static(
                    plain(f"segment {view.segment}"), id="audit-detail-segment", markup=False
                )
            yield Static(plain(body, multiline=True), id="audit-detail-body", markup=False)
            yield Static("Esc to go back", id="audit-detail-hint")
        yield Footer()


class AuditScreen(Screen[None]):
    """Recent audit records, filtered, with live arrivals and a per-record verification mark."""

    TITLE = "Audit log"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("enter", "detail", "Detail", show=False),
        # priority: acted on when the key is read, so that "/alice⏎" arriving in one read
        # types "alice" into the filter (focus moves before the next key is routed)
        Binding("slash", "focus_filter", "Filter", priority=True),
        Binding("ctrl+r", "reload", "Reload"),
        Binding("question_mark", "app.help", "Help"),
    ]

    class RecordsArrived(Message):
        """Records were written to the log (drained from the screen's queue)."""

    def __init__(self) -> None:
        super().__init__()
        self.where = RecordFilter()
        self._arrived: list[AuditRecord] = []
        self._load_token = 0
        """Non-zero while a load is in flight (live records wait for it)."""
        self._loads = 0
        self._unsubscribe: Callable[[], None] | None = None
        self._verifier: LiveVerifier | None = None
        self._verify_worker: Worker[None] | None = None

    @property
    def gh_app(self) -> GatehouseApp:
        from tui.app import GatehouseApp

        assert isinstance(self.app, GatehouseApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="audit-filters"):
            for name, placeholder, hint in _FIELDS:
                box = Input(placeholder=placeholder, id=f"audit-{name}", classes="audit-filter")
                box.tooltip = hint
                yield box
        yield AuditTable(id="audit-table")
        yield Static("", id="audit-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        app = self.gh_app
        self.query_one(AuditTable).focus()
        try:
            self._unsubscribe = app.services.review.watch_audit(app.principal, self._on_record)
            self._verifier = app.services.review.live_verifier(app.principal, self.where)
        except GatehouseError as exc:
            self._status(str(exc), error=True)
            return
        self.load()

    def on_unmount(self) -> None:
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()

    # -- live records -----------------------------------------------------------------

    def _on_record(self, record: AuditRecord) -> None:
        """Called by the broker (on its loop) for each record written; queues it."""
        self._arrived.append(record)
        if len(self._arrived) == 1:
            self.post_message(self.RecordsArrived())

    def on_audit_screen_records_arrived(self, event: AuditScreen.RecordsArrived) -> None:
        event.stop()
        self._drain()

    def _drain(self) -> None:
        verifier = self._verifier
        if self._load_token or not self._arrived or verifier is None:
            return
        table = self.query_one(AuditTable)
        arrived, self._arrived = self._arrived, []
        new = [r for r in arrived if self.where.matches(r) and not table.has_seq(r.seq)]
        if not new:
            return
        table.append([live_view(r) for r in new])
        verifier.expect(r.seq for r in new)
        self._refresh_status()
        if self._verify_worker is None or self._verify_worker.is_finished:
            self._verify_worker = self.verify_new(verifier)

    @work(exclusive=True, group="audit-verify", exit_on_error=False)
    async def verify_new(self, verifier: LiveVerifier) -> None:
        """Show what reading live records back from the log and verifying them found."""
        app, table = self.gh_app, self.query_one(AuditTable)
        try:
            async for read in verifier.rounds(table.seqs):
                table.update_status(list(read.found))
                if read.lost:
                    table.fail_pending(set(read.lost), "written, but not found in the log")
                self._refresh_status()
        except GatehouseError as exc:
            self._status(f"Could not verify new records: {exc}", error=True)
        except Exception:
            log.exception("[%s] verifying new audit records failed", app.principal.name)
            self._status("Internal error while verifying new records.", error=True)

    # -- loading and filters -------------------------------------------------------------

    def _typed(self) -> FilterText:
        values = {name: self.query_one(f"#audit-{name}", Input).value for name, *_ in _FIELDS}
        return FilterText(**values)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            self.where = parse_filter(self._typed())
        except ValueError as exc:
            self._status(f"Filter not applied: {exc}", error=True)
            return
        if self._verifier is not None:
            self._verifier.clear()
        self.set_focus(self.query_one(AuditTable))  # at once: a following Enter opens a row
        self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "focus_filter":  # in a filter field, `/` is text
            return not isinstance(self.focused, Input)
        return True

    def action_focus_filter(self) -> None:
        # now, not on the next loop turn (Widget.focus): keys typed right after `/` go to it
        self.set_focus(self.query_one("#audit-user", Input))

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, group="audit-load", exit_on_error=False)
    async def load(self) -> None:
        """Read the newest records matching the filter (the read runs in a thread)."""
        app = self.gh_app
        self._loads += 1
        token = self._load_token = self._loads
        self._status(f"Reading the audit log ({describe(self.where)})…")
        try:
            views = await app.services.review.audit_records(app.principal, self.where, LIMIT)
        except GatehouseError as exc:
            self._status(str(exc), error=True)
            self.notify(
                escape_controls(str(exc)),
                title="Audit log",
                severity="error",
                timeout=8,
                markup=False,
            )
            return
        except Exception:
            log.exception("[%s] reading the audit log failed", app.principal.name)
            self._status("Internal error while reading the audit log.", error=True)
            return
        finally:
            if self._load_token == token:
                self._load_token = 0
        self.workers.cancel_group(self, "audit-verify")
        self._verify_worker = None
        self._verifier = app.services.review.live_verifier(app.principal, self.where)
        self.query_one(AuditTable).show(views)
        self._refresh_status()
        self._drain()

    # -- detail and status -----------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_detail()

    def action_detail(self) -> None:
        view = self.query_one(AuditTable).view_at_cursor()
        if view is not None:
            self.app.push_screen(AuditDetailScreen(view))

    def _refresh_status(self) -> None:
        text, problem = summary(self.query_one(AuditTable).views)
        self._status(f"{text} · {describe(self.where)} · Enter detail · / filter", error=problem)

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#audit-status", Static)
        status.update(plain(text))
        status.set_class(error, "error")
