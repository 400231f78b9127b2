"""A pending request as its requester sees it: who may approve, how many, time elapsed."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui.text import plain

if TYPE_CHECKING:
    from broker.approvals.core import Request


def age(seconds: float) -> str:
    """``42s``, ``12m``, ``3h``."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    return f"{seconds // 60}m" if seconds < 7200 else f"{seconds // 3600}h"


class ApprovalWait(Vertical):
    """The request's id, what it asks for, the approvals it needs and from whom, its
    justification, the time waited so far, and ``hint`` (what happens next, how to cancel).

    Used by the waiting screen of a session and inline by the SQL console pane.
    """

    DEFAULT_CSS = """
    ApprovalWait {
        height: auto;
    }
    """

    def __init__(self, request: Request, hint: str, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.request = request
        self.hint = hint
        self.started = time.monotonic()

    def compose(self) -> ComposeResult:
        request = self.request
        plural = "s" if request.needed != 1 else ""
        yield Static(plain(f"Waiting for approval · {request.id}"), id="waiting-title")
        yield Static(
            plain(
                f"{request.describe()}\n"
                f"needs {request.needed} approval{plural} "
                f"from {', '.join(request.approvers)} (rule {request.rule})\n"
                f"justification: {request.reason or '(none)'}",
                multiline=True,
            ),
            id="waiting-detail",
        )
        yield Static("", id="waiting-elapsed")
        yield Static(plain(self.hint), id="waiting-hint")

    def on_mount(self) -> None:
        self.tick()
        self.set_interval(1.0, self.tick)

    def tick(self) -> None:
        elapsed = age(time.monotonic() - self.started)
        self.query_one("#waiting-elapsed", Static).update(plain(f"waiting {elapsed}"))

    def say(self, text: str) -> None:
        """Show ``text`` (e.g. why cancelling failed) where the time waited was."""
        self.query_one("#waiting-elapsed", Static).update(plain(text))
