"""The help overlay: keys of the connection picker and how the pass-through works."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

HELP_TEXT = """\
[b]Gatehouse[/b] — every session is brokered, masked, recorded and audited.

[b]Connection picker[/b]
  type          filter the list (name, type, target)
  ↑ ↓           move;   Enter  connect
  Esc           clear the filter
  a             audit log (auditors; when the filter is empty)
  r             recordings and replay (when the filter is empty)
  Ctrl+P        approvals queue (approvers; the header counts pending requests)
  q             leave Gatehouse (when the filter is empty);  Ctrl+Q always
  ?             this help

[b]In a session[/b]
  Your terminal talks straight to the target (vim, colours, resize work).
  Exit the remote shell (exit / Ctrl+D) to come back to the picker.
  ⏳ marks connections that need an approval first: Enter asks why, makes the
  request and waits; the session starts by itself once approved (Esc cancels).

[b]Approvals queue[/b] (Ctrl+P)
  y  approve (comment optional)    n  deny (comment required)    Esc  back
  h  history of decided requests   /  filter as you type

[b]Replay[/b] (r, then Enter on a recording)
  space  play/pause    + -  speed        i  skip idle gaps
  ← →    seek 5 s      \\[ ]  commands     c  command list
  /      search        n N  next, prev   b  scrollback
  Click the bar to seek; Shift+arrows pan a screen larger than yours.

Press Esc, q or ? to close."""


class HelpScreen(ModalScreen[None]):
    """Key help."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(HELP_TEXT, id="help")
