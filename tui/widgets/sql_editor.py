"""The SQL console's statement editor: SQL highlighting and a history walked with up and down."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widgets import TextArea


class SqlEditor(TextArea):
    """The statement editor: SQL highlighting; up on the first line and down on the last walk
    the history."""

    class HistoryWalked(Message):
        """Up on the first line (-1) or down on the last (+1)."""

        def __init__(self, step: int) -> None:
            super().__init__()
            self.step = step

    async def _on_key(self, event: events.Key) -> None:
        row = self.cursor_location[0]
        if (event.key == "up" and row == 0) or (
            event.key == "down" and row == self.document.line_count - 1
        ):
            event.stop()
            event.prevent_default()
            self.post_message(self.HistoryWalked(-1 if event.key == "up" else 1))
            return
        await super()._on_key(event)


def sql_editor() -> SqlEditor:
    """The editor, highlighted with tree-sitter's SQL grammar when it is installed."""
    editor = SqlEditor(
        "", id="sql-editor", soft_wrap=False, show_line_numbers=True, tab_behavior="indent"
    )
    if "sql" in editor.available_languages:
        editor.language = "sql"
    return editor
