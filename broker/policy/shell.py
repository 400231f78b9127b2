"""A shell command line → the simple commands bash would run, with each argument after quote removal."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import bashlex

MAX_SOURCE = 16 * 1024
"""Longer command lines are not parsed: the parser takes about 1 s for 16 KiB of short commands."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPECIAL_PARAMS = set("@*#?-$!0123456789")
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}
_SKIPPED_KINDS = frozenset({"reservedword", "operator", "pipe"})


class Undecidable(Exception):
    """The command line cannot be decided from its text; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Word:
    """One word of a simple command."""

    text: str
    """The word after quote removal, or its source text when the shell would change it."""
    unknown: str = ""
    """Why the shell would change the word at run time (a variable, a glob, …); empty if literal."""


@dataclass(frozen=True)
class SimpleCommand:
    """One simple command of a command line: what one fork/exec (or builtin) would see."""

    words: tuple[Word, ...]
    """The argument vector; ``words[0]`` names the program."""
    assignments: tuple[Word, ...] = ()
    """``NAME=value`` words before the program (or alone, without a program)."""
    redirects: tuple[str, ...] = ()
    """Redirections as ``OP TARGET`` text, targets after quote removal."""
    unknown: str = ""
    """Why a redirection target or an assignment cannot be known; empty if all are literal."""

    @property
    def argv(self) -> tuple[str, ...]:
        """The argument vector as text."""
        return tuple(w.text for w in self.words)

    @property
    def text(self) -> str:
        """The normalised command text that regex rules see: argv and redirections, one space apart."""
        return " ".join((*(a.text for a in self.assignments), *self.argv, *self.redirects))

    def assigned(self) -> tuple[str, ...]:
        """The names of the assigned variables."""
        return tuple(a.text.split("=", 1)[0].removesuffix("+") for a in self.assignments)


def parse(source: str) -> tuple[SimpleCommand, ...]:
    """Every simple command in ``source``, in order, including those in substitutions and bodies.

    Raises:
        Undecidable: the parser rejects the text, or it uses syntax whose effect cannot be told
            from the text (here-documents, arithmetic, constructs the parser does not model).
    """
    if len(source) > MAX_SOURCE:
        raise Undecidable(f"command longer than {MAX_SOURCE} characters")
    if "\x00" in source:
        raise Undecidable("NUL character in the command")
    if not source.strip():
        return ()
    try:
        trees = bashlex.parse(source)
    except NotImplementedError as exc:
        raise Undecidable(f"shell syntax not supported by the parser ({_short(exc)})") from None
    except RecursionError:
        raise Undecidable("command nested too deeply") from None
    except Exception as exc:  # bashlex raises ParsingError and, on odd input, internal errors
        raise Undecidable(f"the shell parser rejects it ({_short(exc)})") from None
    out: list[SimpleCommand] = []
    walker = _Walker(source, out)
    try:
        for tree in trees:
            walker.node(tree)
    except RecursionError:
        raise Undecidable("command nested too deeply") from None
    return tuple(out)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:120]


class _Walker:
    """Collects simple commands from a bashlex tree; anything it does not model is undecidable."""

    def __init__(self, source: str, out: list[SimpleCommand]) -> None:
        self.source = source
        self.out = out

    def node(self, n: Any) -> None:
        kind = n.kind
        if kind in _SKIPPED_KINDS:
            return
        if kind == "command":
            self.command(n)
        elif kind in ("list", "pipeline", "if", "while", "until"):
            for part in n.parts:
                self.node(part)
        elif kind == "compound":
            start = n.pos[0]
            if self.source.startswith("((", start):
                raise Undecidable("arithmetic command `((…))`")
            for part in n.list:
                self.node(part)
            for redirect in getattr(n, "redirects", ()) or ():
                self.redirect_text(redirect)
        elif kind == "for":
            self.for_loop(n)
        elif kind == "function":
            for part in n.parts:
                if part.kind != "word":
                    self.node(part)
        else:
            raise Undecidable(f"shell syntax not modelled ({kind})")

    def for_loop(self, n: Any) -> None:
        parts = list(n.parts)
        variable = parts[1] if len(parts) > 1 and parts[1].kind == "word" else None
        if variable is not None:
            self.out.append(SimpleCommand(words=(), assignments=(Word(variable.word + "="),)))
        for part in parts[2:]:
            if part.kind == "word":
                self.substitutions(part)
            else:
                self.node(part)

    def substitutions(self, n: Any) -> None:
        """Walk the commands that substitutions inside a word, assignment or redirect run."""
        for part in getattr(n, "parts", ()) or ():
            if part.kind in ("commandsubstitution", "processsubstitution"):
                self.node(part.command)
            else:
                self.substitutions(part)

    def command(self, n: Any) -> None:
        words: list[Word] = []
        names: list[Word] = []
        redirects: list[str] = []
        unknown = ""
        for part in n.parts:
            if part.kind == "word":
                self.substitutions(part)
                words.append(self.word(part))
            elif part.kind == "assignment":
                self.substitutions(part)
                # `export A=1`: after the program, an assignment is an argument
                (words if words else names).append(self.word(part))
            elif part.kind == "redirect":
                text, why = self.redirect_text(part)
                redirects.append(text)
                unknown = unknown or why
            else:
                raise Undecidable(f"shell syntax not modelled ({part.kind})")
        self.out.append(SimpleCommand(tuple(words), tuple(names), tuple(redirects), unknown))

    def redirect_text(self, n: Any) -> tuple[str, str]:
        if getattr(n, "heredoc", None) is not None or n.type in ("<<", "<<-"):
            raise Undecidable("here-document")
        target = n.output
        if isinstance(target, int):
            return f"{n.type}{target}", ""
        self.substitutions(target)
        word = self.word(target)
        return f"{n.type} {word.text}", word.unknown

    def word(self, n: Any) -> Word:
        start, end = n.pos
        return unquote(self.source[start:end])


def unquote(raw: str) -> Word:
    """Quote removal on one word's source text, as bash would do it; expansions are not performed.

    The result is literal only if bash would pass exactly that text to the program: any parameter,
    command or arithmetic substitution, unquoted glob or brace expansion makes it ``unknown``.
    The word is built as bytes, as bash builds it (``$'\\xc3\\xa9'`` is ``é``).
    """
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == "\\":
            if i + 1 < n:
                if raw[i + 1] != "\n":
                    _put(out, raw[i + 1])
                i += 2
            else:
                _put(out, "\\")
                i += 1
        elif c == "'":
            j = raw.find("'", i + 1)
            if j < 0:
                return Word(raw, "unterminated quote")
            _put(out, raw[i + 1 : j])
            i = j + 1
        elif c == '"':
            j, why = _double_quoted(raw, i + 1, out)
            if why:
                return Word(raw, why)
            i = j
        elif c == "$":
            nxt = raw[i + 1] if i + 1 < n else ""
            if nxt == "'":
                j, why = _ansi_c(raw, i + 2, out)
                if why:
                    return Word(raw, why)
                i = j
            elif nxt == '"':
                i += 1  # $"…" is a translated string: the same text as "…"
            elif why := _expansion(nxt):
                return Word(raw, why)
            else:
                _put(out, "$")
                i += 1
        elif c == "`":
            return Word(raw, "command substitution `…`")
        elif c in "*?" or (c == "[" and "]" in raw[i + 1 :]):
            return Word(raw, f"glob `{c}`")
        elif c == "{" and _brace_expansion(raw, i):
            return Word(raw, "brace expansion `{…}`")
        elif c in "()":
            return Word(raw, f"pattern syntax `{c}`")
        else:
            _put(out, c)
            i += 1
    return Word(out.decode("utf-8", "surrogateescape"))


def _put(out: bytearray, text: str) -> None:
    out += text.encode("utf-8", "surrogateescape")


def _expansion(nxt: str) -> str:
    """Why ``$`` followed by ``nxt`` expands, or "" if it stays a literal dollar."""
    if nxt == "(":
        return "command substitution `$(…)`"
    if nxt in ("{", "[") or nxt in _SPECIAL_PARAMS or (nxt and _NAME.match(nxt)):
        return f"variable `${nxt}…`"
    return ""


def _double_quoted(raw: str, i: int, out: bytearray) -> tuple[int, str]:
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == '"':
            return i + 1, ""
        if c == "\\" and i + 1 < n and raw[i + 1] in '$`"\\\n':
            if raw[i + 1] != "\n":
                _put(out, raw[i + 1])
            i += 2
        elif c == "$" and (why := _expansion(raw[i + 1] if i + 1 < n else "")):
            return i, why
        elif c == "`":
            return i, "command substitution `…`"
        else:
            _put(out, c)
            i += 1
    return i, "unterminated quote"


def _ansi_c(raw: str, i: int, out: bytearray) -> tuple[int, str]:
    """Decode a ``$'…'`` string from just after its opening quote.

    Bytes from ``\\x``/octal escapes are kept as bytes; the string ends at a NUL, as the C
    string bash builds does (the rest up to the closing quote is dropped).
    """
    n, start = len(raw), len(out)
    while i < n:
        c = raw[i]
        if c == "'":
            if 0 in out[start:]:
                del out[out.index(0, start) :]
            return i + 1, ""
        if c != "\\" or i + 1 >= n:
            _put(out, c)
            i += 1
            continue
        e = raw[i + 1]
        i += 2
        if e in _SIMPLE_ESCAPES:
            _put(out, _SIMPLE_ESCAPES[e])
        elif e in "01234567":
            digits = e + _take(raw, i, "01234567", 2)
            i += len(digits) - 1
            out.append(int(digits, 8) & 0xFF)
        elif e in "xuU":
            digits = _take(raw, i, "0123456789abcdefABCDEF", {"x": 2, "u": 4, "U": 8}[e])
            i += len(digits)
            if not digits:
                _put(out, "\\" + e)
            elif e == "x":
                out.append(int(digits, 16))
            elif (code := int(digits, 16)) > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                return i, "escape outside Unicode in $'…'"
            else:
                _put(out, chr(code))
        elif e == "c" and i < n and raw[i] != "\\":
            out.append(0x7F if raw[i] == "?" else ord(raw[i]) & 0x1F)
            i += 1
        elif e == "c":
            return i, "escape `\\c` not modelled in $'…'"
        else:
            _put(out, "\\" + e)
    return i, "unterminated quote"


def _take(raw: str, i: int, allowed: str, most: int) -> str:
    j = i
    while j < len(raw) and j - i < most and raw[j] in allowed:
        j += 1
    return raw[i:j]


def _brace_expansion(raw: str, i: int) -> bool:
    """Whether an unquoted ``{`` at ``i`` may start a brace expansion (``,`` or ``..`` inside)."""
    close = raw.find("}", i + 1)
    if close < 0:
        return False
    inner = raw[i + 1 : close]
    return "," in inner or ".." in inner or "{" in inner or "\\" in inner or "'" in inner
