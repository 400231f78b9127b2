"""The Gatehouse Textual app: one per SSH session, talking only to the broker's services."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Input

from broker.common.text import escape_controls
from tui.commands import GatehouseCommands
from tui.console import build_console
from tui.driver import ChannelDriver, key_bytes
from tui.screens.approvals import ApprovalsScreen
from tui.screens.audit import AuditScreen, audit_key_enabled, can_audit
from tui.screens.connections import ConnectionsScreen
from tui.screens.help import HelpScreen
from tui.screens.recordings import RecordingsScreen, recordings_key_enabled
from tui.screens.signin import SignInScreen

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from broker.services import Services
    from broker.session.terminal import Principal, Terminal


class GatehouseApp(App[None]):
    """The interface a user sees after `ssh -p 2222 USER@gatehouse`."""

    CSS_PATH = "app.tcss"
    TITLE = "Gatehouse"
    COMMANDS = {GatehouseCommands}
    """Only our own commands: Textual's system commands (screenshot, theme) are not offered."""
    COMMAND_PALETTE_DISPLAY = "^p"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
        Binding("r", "recordings", "Recordings", priority=True),
    ]

    def __init__(self, services: Services, channel: Terminal, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services
        self.channel = channel
        self.principal: Principal = channel.principal
        self.console = build_console(channel.term_type, channel.colorterm)
        self._input_held = False
        groups = ", ".join(self.principal.groups) or "no groups"
        self.sub_title = escape_controls(f"{self.principal.name} · {groups}")
        self._base_sub_title = self.sub_title
        self.pending_approvals = 0
        """Requests waiting for this user's decision (approvers only), counted on each change."""
        self.clock: Callable[[], float] = time.time
        """Wall-clock time for ages shown (tests and pictures fix it)."""
        self.is_approver = services.is_approver(self.principal)
        # ctrl+o, not a letter: a letter would be taken from the picker's filter ("prod-…");
        # ctrl+p is the command palette (which offers the pane too)
        self._bindings.bind(
            "ctrl+o", "approvals", "Approvals", show=self.is_approver, priority=True
        )
        # `a` opens the audit pane; only auditors see it in the footer, others are told no.
        self._bindings.bind(
            "a", "audit", "Audit log", show=can_audit(services, self.principal), priority=True
        )

    def hold_input(self) -> None:
        """Stop reading the user's keys: what they type next waits for the session being opened.

        The pass-through relay takes the held input when it starts; :meth:`release_input`
        gives it back to the TUI if the session does not open. Keys the TUI had read but
        not handled yet are given back to the channel (:meth:`give_back`) while held.
        """
        self._input_held = True
        driver = self._driver
        if isinstance(driver, ChannelDriver):
            driver.disable_input()

    def release_input(self) -> None:
        """Read the user's keys again; keys given back while held come first."""
        self._input_held = False
        driver = self._driver
        if isinstance(driver, ChannelDriver):
            driver.enable_input()

    @property
    def input_held(self) -> bool:
        """True while the user's keys wait for a session being opened."""
        return self._input_held

    def give_back(self, event: events.Key | events.Paste) -> None:
        """Return a key read before input was held to the channel, for the session to read."""
        data = key_bytes(event) if isinstance(event, events.Key) else event.text.encode()
        if data:
            self.channel.unread(data)

    def step_aside(self) -> contextlib.AbstractContextManager[None]:
        """Give the user's terminal to a pass-through session (no-op where it cannot be)."""
        driver = self._driver
        if driver is None or not driver.can_suspend:
            return contextlib.nullcontext()
        return self.suspend()

    def on_mount(self) -> None:
        if self.principal.pending_user:
            self.push_screen(SignInScreen())  # the IdP vouches first; nothing else is offered
            return
        self._open_picker()

    def _open_picker(self) -> None:
        self.push_screen(ConnectionsScreen())
        if self.is_approver:
            self.watch_pending()

    def signed_in(self, principal: Principal) -> None:
        """The IdP vouched for the person: take their identity and open the picker."""
        self.principal = principal
        groups = ", ".join(principal.groups) or "no groups"
        self.sub_title = escape_controls(f"{principal.name} · {groups}")
        self._base_sub_title = self.sub_title
        self.is_approver = self.services.is_approver(principal)
        self._bindings.bind(
            "ctrl+o", "approvals", "Approvals", show=self.is_approver, priority=True
        )
        self._bindings.bind(
            "a", "audit", "Audit log", show=can_audit(self.services, principal), priority=True
        )
        self.switch_screen(ConnectionsScreen())
        if self.is_approver:
            self.watch_pending()

    @work(exclusive=True, group="approvals-badge", exit_on_error=False)
    async def watch_pending(self) -> None:
        """Keep the pending-approvals badge in the header current, wherever the user is:
        counted again each time the requests change (in any broker process)."""
        approvals = self.services.approvals
        seen = -1
        while True:
            seen = await approvals.changes(seen)
            try:
                pending = await approvals.pending_for(self.principal.name, self.principal.groups)
            except Exception:  # the badge keeps watching; the next change tries again
                log.exception("[%s] approvals badge: cannot read the queue", self.principal.name)
                continue
            self.pending_approvals = len(pending)
            badge = f" · ⏳ {len(pending)} pending (^o)" if pending else ""
            self.sub_title = self._base_sub_title + badge

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and self.input_held:
            # Keys parsed before the hold: no letter binding acts on them (check_action);
            # they go, in order, through the focused widget's queue behind the Enter that
            # held input, and the picker gives them back to the channel.
            await super().on_event(event)
            return
        # A focused Input takes every printable key, so Textual drops app bindings for letters
        # while the picker's filter has focus. Priority letter bindings still act whenever
        # their check_action allows (on the picker, filter empty), as `q` and `?` do there.
        if isinstance(event, events.Key) and event.is_printable and not event.is_forwarded:
            for binding in self._bindings.key_to_bindings.get(event.key, ()):
                if binding.priority and self.check_action(binding.action, ()):
                    if isinstance(self.focused, Input):
                        # Keys typed before this one may still wait in the Input's queue
                        # ("prod" arrives at once): decide once they are in.
                        self.focused.call_later(self._letter_key, self.focused, binding, event)
                    else:
                        await self.run_action(binding.action)
                    return
        await super().on_event(event)

    async def _letter_key(self, box: Input, binding: Binding, event: events.Key) -> None:
        if self.check_action(binding.action, ()):
            await self.run_action(binding.action)
        elif self.input_held:  # typed ahead of a session being opened: it is the target's
            self.give_back(event)
        elif event.character is not None:
            box.insert_text_at_cursor(event.character)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if (self.input_held or self.principal.pending_user) and action != "quit":
            return False
        if action == "audit":
            return audit_key_enabled(self)
        if action == "recordings":
            return recordings_key_enabled(self)
        if action == "approvals":
            return not isinstance(self.screen, ModalScreen)
        return True

    def action_audit(self) -> None:
        if not can_audit(self.services, self.principal):
            groups = ", ".join(self.services.review.roles.auditors) or "none"
            self.notify(
                f"The audit log is open to members of the auditors role only ({groups}).",
                title="Not allowed",
                severity="warning",
                markup=False,  # group names are data
            )
        elif not isinstance(self.screen, AuditScreen):
            self.push_screen(AuditScreen())

    def action_connections(self) -> None:
        """Go back to the connection picker (the first screen)."""
        while len(self.screen_stack) > 2 and not isinstance(self.screen, ConnectionsScreen):
            self.pop_screen()

    def connect_to(self, name: str) -> None:
        """Open a session on ``name`` from the picker (the command palette's "Connect to")."""
        self.action_connections()
        screen = self.screen_stack[-1] if len(self.screen_stack) > 1 else None
        if isinstance(screen, ConnectionsScreen):
            screen.connect_to(name)

    def action_approvals(self) -> None:
        if not self.is_approver:
            self.notify(
                "No approval rule names any of your groups as approvers.",
                title="Not allowed",
                severity="warning",
                markup=False,
            )
        elif not isinstance(self.screen, ApprovalsScreen):
            self.push_screen(ApprovalsScreen())

    def action_recordings(self) -> None:
        if not isinstance(self.screen, RecordingsScreen):
            self.push_screen(RecordingsScreen())

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
