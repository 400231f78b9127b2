"""The Gatehouse Textual app: one per SSH session, talking only to the broker's services."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.binding import Binding

from tui.compat import build_console
from tui.screens.audit import AuditScreen, audit_key_enabled, can_audit
from tui.screens.connections import ConnectionsScreen
from tui.screens.help import HelpScreen

if TYPE_CHECKING:
    from broker.server.channel import Principal, TerminalChannel
    from broker.services import Services


class GatehouseApp(App[None]):
    """The interface a user sees after `ssh -p 2222 USER@gatehouse`."""

    CSS_PATH = "app.tcss"
    TITLE = "Gatehouse"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, services: Services, channel: TerminalChannel, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services
        self.channel = channel
        self.principal: Principal = channel.principal
        self.console = build_console(channel.term_type, channel.colorterm)
        groups = ", ".join(self.principal.groups) or "no groups"
        self.sub_title = f"{self.principal.name} · {groups}"
        # `a` opens the audit pane; only auditors see it in the footer, others are told no.
        self._bindings.bind(
            "a", "audit", "Audit log", show=can_audit(self.principal), priority=True
        )

    def step_aside(self) -> contextlib.AbstractContextManager[None]:
        """Give the user's terminal to a pass-through session (no-op where it cannot be)."""
        driver = self._driver
        if driver is None or not driver.can_suspend:
            return contextlib.nullcontext()
        return self.suspend()

    def on_mount(self) -> None:
        self.push_screen(ConnectionsScreen())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "audit":
            return audit_key_enabled(self)
        return True

    def action_audit(self) -> None:
        if not can_audit(self.principal):
            self.notify(
                "The audit log is open to members of the auditors group only.",
                title="Not allowed",
                severity="warning",
            )
        elif not isinstance(self.screen, AuditScreen):
            self.push_screen(AuditScreen())

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
