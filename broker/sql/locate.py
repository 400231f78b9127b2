"""Where statements are in an editor's text: the one under the cursor, and a position's line.

Pure: pglast's scanner (PostgreSQL's own lexer, no parse) finds the semicolons that end
statements, so a `;` inside a string, a quoted identifier, a comment or a dollar-quoted body
does not split. Text the scanner cannot read (an unterminated quote) is one statement.
"""

from __future__ import annotations

from pglast.parser import ParseError, scan

Span = tuple[int, int]
"""Start and end (exclusive) character offsets of a statement in the text."""


def statement_spans(text: str) -> list[Span]:
    """The statements of ``text`` as character spans, blanks and the `;` left out."""
    try:
        tokens = scan(text)
    except ParseError:
        return [_trim(text, 0, len(text))] if text.strip() else []
    cuts = [t.start for t in tokens if t.name == "ASCII_59"]  # pglast gives characters
    spans = []
    start = 0
    for cut in [*cuts, len(text)]:
        span = _trim(text, start, cut)
        if span[0] < span[1]:
            spans.append(span)
        start = cut + 1
    return spans


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def statement_at(text: str, offset: int) -> Span | None:
    """The statement the cursor at ``offset`` is in (or the last one before it)."""
    spans = statement_spans(text)
    before = [s for s in spans if s[0] <= offset]
    for start, end in spans:
        if start <= offset <= end:
            return start, end
    if before:
        return before[-1]
    return spans[0] if spans else None


def line_col(text: str, offset: int) -> tuple[int, int]:
    """The 0-based line and column of character ``offset`` in ``text``."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset)
    return line, offset - (text.rfind("\n", 0, offset) + 1)


def offset_of(text: str, location: tuple[int, int]) -> int:
    """The character offset of an editor location (0-based line, column) in ``text``."""
    lines = text.split("\n")
    row = min(location[0], len(lines) - 1)
    return sum(len(line) + 1 for line in lines[:row]) + min(location[1], len(lines[row]))
