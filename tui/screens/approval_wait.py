"""The requester's waiting screen: who may approve, how many, time elapsed, Esc to cancel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen

from broker.common.errors import GatehouseError
from tui.widgets.approval_wait import ApprovalWait

if TYPE_CHECKING:
    from broker.approvals.core import Request
    from tui.app import GatehouseApp

HINT = "The session starts by itself when approved · Esc cancels the request"


class WaitingScreen(ModalScreen[None]):
    """Shown while a request is pending; the session starts by itself once it is approved."""

    BINDINGS = [Binding("escape", "cancel_request", "Cancel request")]

    def __init__(self, request: Request) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        yield ApprovalWait(self.request, HINT, id="waiting-box")

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
            self.query_one(ApprovalWait).say(str(exc))


def is_waiting_for(app: GatehouseApp, request_id: str) -> bool:
    """Whether the waiting screen of ``request_id`` is the one on top."""
    screen = app.screen
    return isinstance(screen, WaitingScreen) and screen.request.id == request_id
