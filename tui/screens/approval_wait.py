"""The requester's waiting screen: who may approve, how many, time elapsed, Esc to cancel."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from broker.common.errors import GatehouseError
from tui.screens.approvals import age
from tui.text import plain

if TYPE_CHECKING:
    from broker.approvals.core import Request
    from tui.app import GatehouseApp


class WaitingScreen(ModalScreen[None]):
    """Shown while a request is pending; the session starts by itself once it is approved."""

    BINDINGS = [Binding("escape", "cancel_request", "Cancel request")]

    def __init__(self, request: Request) -> None:
        super().__init__()
        self.request = request
        self.started = time.monotonic()

    def compose(self) -> ComposeResult:
        request = self.request
        with Vertical(id="waiting-box"):
            yield Static(plain(f"Waiting for approval · {request.id}"), id="waiting-title")
            yield Static(
                plain(
                    f"{request.describe()}\n"
                    f"needs {request.needed} approval{'s' if request.needed != 1 else ''} "
                    f"from {', '.join(request.approvers)} (rule {request.rule})\n"
                    f"justification: {request.reason or '(none)'}",
                    multiline=True,
                ),
                id="waiting-detail",
            )
            yield Static("", id="waiting-elapsed")
            yield Static("The session starts by itself when approved · Esc cancels the request")

    def on_mount(self) -> None:
        self.tick()
        self.set_interval(1.0, self.tick)

    def tick(self) -> None:
        elapsed = age(time.monotonic() - self.started)
        self.query_one("#waiting-elapsed", Static).update(plain(f"waiting {elapsed}"))

    def action_cancel_request(self) -> None:
        self.cancel_request()

    @work(exclusive=True, group="approval-cancel", exit_on_error=False)
    async def cancel_request(self) -> None:
        from tui.app import GatehouseApp

        app = self.app
        assert isinstance(app, GatehouseApp)
        try:
            await app.services.approvals.cancel(app.principal.name, self.request.id)
        except GatehouseError as exc:
            self.query_one("#waiting-elapsed", Static).update(plain(str(exc)))


def is_waiting_for(app: GatehouseApp, request_id: str) -> bool:
    """Whether the waiting screen of ``request_id`` is the one on top."""
    screen = app.screen
    return isinstance(screen, WaitingScreen) and screen.request.id == request_id
