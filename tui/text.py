"""Text from a user, a target or a file, made safe to show: never markup, controls escaped.

Textual parses console markup in a plain ``str`` given to ``Static``, ``DataTable`` cells,
``Option`` prompts and ``notify``: ``[@click=app.screenshot(...)]`` hidden in a target's
output became a link that ran an action when a reviewer clicked it. Rich ``Text`` is never
parsed, and :func:`~broker.common.text.escape_controls` keeps escape sequences from reaching
the reviewer's terminal through it.
"""

from __future__ import annotations

from rich.text import Text

from broker.common.text import escape_controls


def plain(text: str, *, multiline: bool = False) -> Text:
    """Return ``text`` as a :class:`Text` shown character for character.

    Args:
        text: what a user, a target or a file supplied (or a message quoting it).
        multiline: keep line breaks (every other control is still escaped).
    """
    return Text(escape_controls(text, keep_newlines=multiline), end="")


def cell(text: str) -> Text:
    """A one-line table cell: :func:`plain` that does not wrap."""
    shown = plain(text)
    shown.no_wrap = True
    return shown
