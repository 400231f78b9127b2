"""Screen snapshots: immutable screen values for viewers, and exact keyframes for seeking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyte import charsets as cs
from pyte.screens import Char, Cursor, Margins, Savepoint, StaticDefaultDict

from recordings.terminal import Screen, Stream

KEYFRAME_VERSION = 1
_CHARSET_CODES = {id(table): code for code, table in cs.MAPS.items()}


@dataclass(frozen=True)
class ScreenState:
    """What a terminal showed at one moment (pyte cells, so colours and styles are kept)."""

    columns: int
    """Width in cells."""
    lines: int
    """Height in rows."""
    rows: tuple[tuple[Char, ...], ...]
    """``lines`` rows of ``columns`` cells; a wide character is followed by a ``""`` stub."""
    cursor_x: int
    """Cursor column (0-based; may equal ``columns`` right after drawing in the last one)."""
    cursor_y: int
    """Cursor row (0-based)."""
    cursor_hidden: bool
    """True when the program hid the cursor (DECTCEM reset)."""
    title: str
    """The window title the program set (OSC 0/2)."""
    alternate: bool
    """True while a full-screen program uses the alternate screen."""


def screen_state(screen: Screen) -> ScreenState:
    """Return an immutable copy of what ``screen`` shows."""
    rows = []
    for y in range(screen.lines):
        line = screen.buffer.get(y)
        if line is None:
            blank = screen.default_char
            rows.append((blank,) * screen.columns)
        else:
            rows.append(tuple(line[x] for x in range(screen.columns)))
    return ScreenState(
        columns=screen.columns,
        lines=screen.lines,
        rows=tuple(rows),
        cursor_x=screen.cursor.x,
        cursor_y=screen.cursor.y,
        cursor_hidden=bool(screen.cursor.hidden),
        title=str(screen.title),
        alternate=screen.alternate,
    )


def render_text(state: ScreenState) -> str:
    """Return the screen as plain text: one line per row, trailing blanks removed.

    Args:
        state: the screen to render.

    Returns:
        The rows joined with ``\\n`` (no trailing newline); wide-character stubs are skipped.
    """
    return "\n".join("".join(c.data for c in row).rstrip() for row in state.rows)


# -- keyframes: every bit of emulator state, so that replay from one is exact ---------------


class _Styles:
    def __init__(self) -> None:
        self.table: list[tuple[Any, ...]] = []
        self.ids: dict[tuple[Any, ...], int] = {}

    def id(self, char: Char) -> int:
        key = tuple(char)[1:]
        found = self.ids.get(key)
        if found is None:
            found = self.ids[key] = len(self.table)
            self.table.append(key)
        return found


def _encode_line(line: StaticDefaultDict[int, Char], columns: int, styles: _Styles) -> list[Any]:
    default = line.default
    out: list[Any] = [styles.id(default)]
    run_x, run_style = -1, -1
    run_cells: list[str] = []
    for x in sorted(k for k in line if 0 <= k < columns):
        cell = line[x]
        if cell == default:
            continue
        style = styles.id(cell)
        if style == run_style and x == run_x + len(run_cells):
            run_cells.append(cell.data)
            continue
        if run_cells:
            out.append(_run(run_x, run_style, run_cells))
        run_x, run_style, run_cells = x, style, [cell.data]
    if run_cells:
        out.append(_run(run_x, run_style, run_cells))
    return out


def _run(x: int, style: int, cells: list[str]) -> list[Any]:
    if all(len(c) == 1 for c in cells):
        return [x, style, "".join(cells)]
    return [x, style, cells]


def _decode_line(encoded: list[Any], styles: list[tuple[Any, ...]]) -> StaticDefaultDict[int, Char]:
    line: StaticDefaultDict[int, Char] = StaticDefaultDict(Char(" ", *styles[encoded[0]]))
    for x, style, cells in encoded[1:]:
        tail = styles[style]
        for i, data in enumerate(cells):
            line[x + i] = Char(data, *tail)
    return line


def _cursor(c: Cursor, styles: _Styles) -> list[Any]:
    return [c.x, c.y, bool(c.hidden), styles.id(c.attrs), c.attrs.data]


def _uncursor(v: list[Any], styles: list[tuple[Any, ...]]) -> Cursor:
    cursor = Cursor(v[0], v[1], Char(v[4], *styles[v[3]]))
    cursor.hidden = v[2]
    return cursor


def capture(screen: Screen, stream: Stream) -> dict[str, Any]:
    """Return the complete emulator state as a JSON-ready value (a keyframe).

    Args:
        screen: the screen to capture.
        stream: its parser (a partial escape sequence it holds is kept).
    """
    styles = _Styles()
    columns = screen.columns
    buffer = {str(y): _encode_line(ln, columns, styles) for y, ln in screen.buffer.items()}
    saved = None
    if screen.saved_main is not None:
        saved = {str(y): _encode_line(ln, columns, styles) for y, ln in screen.saved_main.items()}
    savepoints = [
        [
            _cursor(sp.cursor, styles),
            _CHARSET_CODES.get(id(sp.g0_charset), "B"),
            _CHARSET_CODES.get(id(sp.g1_charset), "0"),
            sp.charset,
            sp.origin,
            sp.wrap,
        ]
        for sp in screen.savepoints
    ]
    return {
        "v": KEYFRAME_VERSION,
        "size": [columns, screen.lines],
        "cursor": _cursor(screen.cursor, styles),
        "mode": sorted(screen.mode),
        "margins": list(screen.margins) if screen.margins else None,
        "charset": [
            screen.charset,
            _CHARSET_CODES.get(id(screen.g0_charset), "B"),
            _CHARSET_CODES.get(id(screen.g1_charset), "0"),
        ],
        "tabs": sorted(screen.tabstops),
        "title": [screen.title, screen.icon_name],
        "saved_columns": screen.saved_columns,
        "savepoints": savepoints,
        "alternate": screen.alternate,
        "last": screen.last_char,
        "pending": stream.pending,
        "buffer": buffer,
        "saved_main": saved,
        "styles": [list(s) for s in styles.table],
    }


def restore(state: dict[str, Any]) -> tuple[Screen, Stream]:
    """Rebuild a screen and stream from :func:`capture`'s value.

    Raises:
        ValueError: the value is not a keyframe of this version.
    """
    if state.get("v") != KEYFRAME_VERSION:
        raise ValueError("unsupported keyframe version")
    styles = [tuple(s) for s in state["styles"]]
    columns, lines = state["size"]
    screen = Screen(columns, lines)
    screen.buffer.clear()
    for y, enc in state["buffer"].items():
        screen.buffer[int(y)] = _decode_line(enc, styles)
    if state["saved_main"] is not None:
        screen.saved_main = {
            int(y): _decode_line(e, styles) for y, e in state["saved_main"].items()
        }
    screen.cursor = _uncursor(state["cursor"], styles)
    screen.mode = set(state["mode"])
    screen.margins = Margins(*state["margins"]) if state["margins"] else None
    screen.charset = state["charset"][0]
    screen.g0_charset = cs.MAPS[state["charset"][1]]
    screen.g1_charset = cs.MAPS[state["charset"][2]]
    screen.tabstops = set(state["tabs"])
    screen.title, screen.icon_name = state["title"]
    screen.saved_columns = state["saved_columns"]
    screen.savepoints = [
        Savepoint(_uncursor(c, styles), cs.MAPS[g0], cs.MAPS[g1], charset, origin, wrap)
        for c, g0, g1, charset, origin, wrap in state["savepoints"]
    ]
    screen.alternate = state["alternate"]
    screen.last_char = state["last"]
    screen.dirty.update(range(lines))
    stream = Stream(screen)
    stream.pending = state["pending"]
    return screen, stream
