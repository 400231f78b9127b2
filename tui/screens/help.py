"""The help overlay: keys of each pane and how the pass-through works."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

INTRO = "Every session is brokered, masked, recorded and audited."

SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Connection picker",
        (
            ("type", "filter the list (name, type, target, description)"),
            ("↑ ↓", "move"),
            ("Enter", "connect"),
            ("Esc", "clear the filter"),
            ("a", "audit log (auditors; when the filter is empty)"),
            ("r", "recordings and replay (when the filter is empty)"),
            ("q", "leave Gatehouse (when the filter is empty); Ctrl+Q always"),
            ("Ctrl+O", "approvals queue (approvers; the header counts pending requests)"),
            ("Ctrl+P", "command palette: every pane and action open to you"),
            ("?", "this help"),
        ),
    ),
    (
        "In a session",
        (
            ("", "Your terminal talks straight to the target (vim, colours and resize work)."),
            ("", "Exit the remote shell (exit or Ctrl+D) to come back to the picker."),
            (
                "⏳",
                "marks connections that need an approval first: Enter asks why, makes the"
                " request and waits; the session starts by itself once approved (Esc cancels).",
            ),
        ),
    ),
    (
        "SQL console (Enter on a postgres connection)",
        (
            ("F5", "run the selection or the statement under the cursor (Ctrl+Enter too)"),
            ("F8", "cancel the running statement, or withdraw the approval it waits for"),
            ("↑ ↓", "history, on the first or last line of the editor"),
            ("F6", "next pane: schema, editor, results;  F7  count the rows"),
            ("F9", "reload the schema;  Ctrl+L  clear the editor;  Esc  close"),
            ("", "a statement a rule holds for approval is asked for and waits in the pane"),
        ),
    ),
    (
        "Approvals queue (Ctrl+O)",
        (
            ("y", "approve (comment optional)"),
            ("n", "deny (comment required)"),
            ("h", "history of decided requests"),
            ("/", "filter as you type"),
            ("Esc", "back"),
        ),
    ),
    (
        "Audit log (a)",
        (
            ("/", "filter: user, action (or its start: recording), target, since, until"),
            ("Enter", "the record in full, with its verification"),
        ),
    ),
    (
        "Replay (r, then Enter on a recording)",
        (
            ("space", "play or pause"),
            ("+ -", "speed"),
            ("i", "skip idle gaps"),
            ("← →", "seek 5 s; click the bar to seek"),
            ("[ ]", "previous, next command;  c  the command list"),
            ("/", "search;  n N  next, previous match"),
            ("b", "scrollback"),
            ("Shift+arrows", "pan a screen larger than yours"),
        ),
    ),
)
"""Sections of (key, what it does); a long description wraps under itself, not under the key."""


KEY_WIDTH = 14
"""Cells for the key column (the longest key, indented)."""


def help_renderable() -> RenderableType:
    """The help text: each section a grid, so wrapped lines keep their indent."""
    parts: list[RenderableType] = [Text(INTRO)]
    for title, rows in SECTIONS:
        parts.append(Text(""))
        parts.append(Text(title, style="bold"))
        grid = Table.grid(padding=(0, 2), pad_edge=False)
        grid.add_column(no_wrap=True, width=KEY_WIDTH)
        grid.add_column(ratio=1)
        for key, what in rows:
            grid.add_row(Text("  " + key if key else " "), Text(what))
        parts.append(grid)
    parts.append(Text(""))
    parts.append(Text("Esc, q or ? closes this help."))
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    """Key help."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help") as box:
            box.border_title = "Help"
            box.border_subtitle = "Gatehouse"
            yield Static(help_renderable(), id="help-body")
        yield Footer()
