"""The device-flow screen: where to sign in, the code, a QR code, live status; shown before the picker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from broker.common.errors import GatehouseError
from broker.identity.qr import qr_lines
from tui.text import plain

if TYPE_CHECKING:
    from broker.identity.device import DeviceGrant
    from tui.app import GatehouseApp

FRAME_ROWS = 3
"""Rows around the box's content: its top and bottom border, and the footer."""
FRAME_COLS = 6
"""Columns around the box's content: its borders and padding."""
ALWAYS_ROWS = 3
"""The URL, the code and the status line: shown whatever the terminal's size."""


def fitting(rows: int, cols: int, qr_rows: int, qr_cols: int) -> frozenset[str]:
    """Which optional parts of the sign-in box fit a terminal of ``rows`` x ``cols``.

    The URL, the code and the status are always shown; then, while rows remain, the QR code
    (the phone's shortcut), the title line (the box's border already says "Sign in"), and the
    hint (the footer already names Esc). Without room for the QR code, a one-line note says
    how tall the window must be for it, where that line fits.

    Returns:
        A subset of ``{"qr", "qr-note", "title", "hint"}``.
    """
    left = rows - FRAME_ROWS - ALWAYS_ROWS
    parts: set[str] = set()
    if qr_rows and qr_rows <= left and qr_cols + FRAME_COLS <= cols:
        parts.add("qr")
        left -= qr_rows
    elif qr_rows and left >= 1:
        parts.add("qr-note")
        left -= 1
    for part in ("title", "hint"):
        if left >= 1:
            parts.add(part)
            left -= 1
    return frozenset(parts)


class SignInScreen(Screen[None]):
    """Sign in with the organisation's IdP; the picker follows once the IdP vouches."""

    BINDINGS = [
        Binding("escape", "leave", "Cancel and leave"),
        Binding("enter", "retry", "Try again", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.grant: DeviceGrant | None = None
        self.failed = ""
        """The one-line reason of the last failure (empty while signing in)."""
        self.clock: Callable[[], float] = time.monotonic
        """Where the code's time left is read from (the grant's ``expires_at`` is monotonic)."""
        self.qr: list[str] = []
        """The QR code's lines for the current grant (drawn only where it fits)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="signin-box") as box:
            box.border_title = "Sign in"
            yield Static(
                plain("Sign in with your organisation's identity provider"), id="signin-title"
            )
            yield Static(plain("asking the identity provider for a code…"), id="signin-where")
            yield Static("", id="signin-qr")
            yield Static("", id="signin-status")
            yield Static(plain("Esc cancels and leaves"), id="signin-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1.0, self.tick)
        self.sign_in()

    def show(self, grant: DeviceGrant) -> None:
        """The IdP gave a code: show where to go, the code and the QR code of the full URL."""
        self.grant = grant
        self.query_one("#signin-where", Static).update(
            plain(
                f"open   {grant.verification_uri}\ncode   {grant.user_code}",
                multiline=True,
            )
        )
        self.qr = qr_lines(grant.verification_uri_complete)
        self.fit()
        self.tick()

    def on_resize(self, event: events.Resize) -> None:
        self.fit()

    def fit(self) -> None:
        """Show the parts of the box that fit the terminal; the URL and code always."""
        qr_cols = len(self.qr[0]) if self.qr else 0
        parts = fitting(self.size.height, self.size.width, len(self.qr), qr_cols)
        self.query_one("#signin-title", Static).display = "title" in parts
        self.query_one("#signin-hint", Static).display = "hint" in parts
        box = self.query_one("#signin-qr", Static)
        if "qr" in parts:
            drawn = plain("\n".join(self.qr), multiline=True)
            drawn.no_wrap = True
            box.update(drawn)
        elif "qr-note" in parts:
            rows = len(self.qr) + FRAME_ROWS + ALWAYS_ROWS
            box.update(plain(f"(a window of {rows} rows or more shows a QR code here)"))
        else:
            box.update("")
        box.display = bool(parts & {"qr", "qr-note"})

    def tick(self) -> None:
        status = self.query_one("#signin-status", Static)
        if self.failed:
            status.update(plain(f"sign-in failed: {self.failed} · Enter tries again · Esc leaves"))
        elif self.grant is not None:
            left = max(0, int(self.grant.expires_at - self.clock()))
            status.update(
                plain(f"waiting for you to sign in · code valid {left // 60}:{left % 60:02d}")
            )

    @work(exclusive=True, group="signin", exit_on_error=False)
    async def sign_in(self) -> None:
        app = self._gatehouse()
        self.failed = ""
        try:
            principal = await app.services.sign_in(app.channel, self.show)
        except asyncio.CancelledError:
            raise
        except GatehouseError as exc:
            self.failed = str(exc)
            self.tick()
            return
        app.signed_in(principal)

    def action_retry(self) -> None:
        if self.failed:
            self.grant = None
            self.qr = []
            self.fit()
            self.query_one("#signin-where", Static).update(
                plain("asking the identity provider for a code…")
            )
            self.sign_in()

    def action_leave(self) -> None:
        self.workers.cancel_group(self, "signin")
        self.app.exit()

    def _gatehouse(self) -> GatehouseApp:
        from tui.app import GatehouseApp

        app = self.app
        assert isinstance(app, GatehouseApp)
        return app
