"""Values drawn on a line out of order (cursor moves, overwrites) never show on the screen."""

from __future__ import annotations

import itertools
import re

import pyte
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.masking import (
    BUILTIN_BY_NAME,
    BUILTIN_DETECTORS,
    MaskingEngine,
    MaskingPolicy,
    StreamMasker,
)

KEY = b"test-key-0123456789abcdef"
ENGINE = MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS), key=KEY)
COLS = 80
CARD = "4111 1111 1111 1111"


def _screen(
    chunks: list[bytes], *, width: int = COLS, flushes: bool = True, crlf: bool = False
) -> list[str]:
    """Feed ``chunks`` to a masker (a terminal session's, unless ``crlf``) and its output to
    pyte; assert after every release that no line shows a value; return the final screen."""
    masker = StreamMasker(ENGINE, stream="stdout", width=width, crlf=crlf)
    screen = pyte.Screen(width, 24)
    stream = pyte.ByteStream(screen)
    for chunk in chunks:
        for out in (masker.feed(chunk), masker.flush() if flushes else b""):
            stream.feed(out)
            _assert_clean(screen.display)
    stream.feed(masker.flush(end=True))
    _assert_clean(screen.display)
    return [line.rstrip() for line in screen.display]


def _assert_clean(lines: list[str]) -> None:
    for line in lines:
        found = ENGINE.find_hits(line.encode())
        assert not found, f"{line!r} shows {[line.encode()[a:b] for a, b, _ in found]}"
        assert "4111111111111111" not in re.sub(r"[ \-]", "", line)


@pytest.mark.parametrize(
    "chunks",
    [
        [b"card 4111 1111 1111 111X\b1\r\n"],
        [b"card 4111 1111 1111 111X", b"\b1", b"\r\n"],
        [b"card \x1b[11G1111 1111 1111\x1b[6G4111\r\n"],
        [b"card ", b"\x1b[11G1111 1111", b" 1111", b"\x1b[6G4111", b"\r\n"],
        [b"XXXX 1111 1111 1111", b"\r", b"4111"],
        [b"\r\x1b[4C 1111 1111 1111\r4111"],
        [b"4111 1111 1111 11", b"\x1b[3D", b"\x1b[3C11"],
        [b"4111 1111 1111 1112", b"\x1b[1`", b"\x1b[19`1"],
        [b"4111 1111 1111 1112", b"\x1b7", b"\x08\x08", b"\x1b8\x081"],
        [b" 1111 1111 1111", b"\x1b[4h\r4111\x1b[4l"],
        [b"4111 1111 1111 1X11", b"\x1b[3D\x1b[P", b"\x1b[4h\x1b[D1\x1b[4l"],
        [b"4111 1111 1111 1", b"\x1b[3b"],
        [b"\t1 1111 1111\r4111 111"],
    ],
)
def test_a_value_drawn_out_of_order_never_shows(chunks: list[bytes]) -> None:
    lines = _screen(chunks)
    assert any("MASKED" in line for line in lines), lines


@pytest.mark.parametrize("flushes", [True, False])
def test_a_value_drawn_across_a_wrapped_row_is_found_on_the_row(flushes: bool) -> None:
    head = b"a" * COLS + b" " * 15 + b"1111"  # the second row ends "... 1111"
    lines = _screen([head, b"\x1b[1G", b"4111 1111 1111 "], flushes=flushes)
    assert any("MASKED" in line for line in lines), lines


def test_backspace_editing_without_a_value_passes_byte_identical() -> None:
    masker = StreamMasker(ENGINE, stream="stdout", width=COLS)
    data = [b"$ ", b"l", b"s", b"x", b"\x08\x1b[K", b" -la", b"\x1b[D", b"\x1b[C", b"\r\n"]
    assert b"".join(masker.feed(d) + masker.flush() for d in data) == b"".join(data)


def test_a_progress_bar_redrawn_with_cr_passes_byte_identical() -> None:
    masker = StreamMasker(ENGINE, stream="stdout", width=COLS)
    data = [f"\rdownloading {n:3d}% {'#' * (n // 5)}".encode() for n in range(0, 101, 7)]
    assert b"".join(masker.feed(d) + masker.flush() for d in data) == b"".join(data)


def test_the_mask_drawn_on_screen_is_proved_and_counted() -> None:
    masker = StreamMasker(ENGINE, stream="stdout", width=COLS)
    masker.feed(b"4111 1111 1111 111X")
    masker.flush()
    masker.feed(b"\b1")
    masker.flush()
    events = masker.take_events()
    assert [e.detector for e in events] == ["credit_card"]
    assert events[0].value_hmac == ENGINE.proof(BUILTIN_BY_NAME["credit_card"], CARD.encode())


def _luhn_card(body: str) -> str:
    digits = [int(c) for c in body]
    total = 0
    for i, d in enumerate(reversed(digits)):
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


_Move = st.sampled_from(["G", "`", "crC", "D", "bs"])


def _goto(move: str, here: int, target: int) -> bytes:
    """Bytes that move the cursor from column ``here`` to ``target`` on the same row."""
    if move == "G":
        return f"\x1b[{target + 1}G".encode()
    if move == "`":
        return f"\x1b[{target + 1}`".encode()
    if move == "crC":
        return b"\r" + (f"\x1b[{target}C".encode() if target else b"")
    if target < here:
        return f"\x1b[{here - target}D".encode() if move == "D" else b"\b" * (here - target)
    return f"\x1b[{target - here}C".encode() if target > here else b""


@st.composite
def _drawn(draw: st.DrawFn) -> tuple[str, list[bytes]]:
    """A card drawn in random pieces, in random order, with random cursor moves (and
    sometimes a wrong character first, overwritten later), cut into random chunks."""
    card = _luhn_card(
        "4" + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=14, max_size=14)))
    )
    sep = draw(st.sampled_from(["", " ", "-"]))
    value = sep.join(card[i : i + 4] for i in range(0, 16, 4))
    col0 = draw(st.integers(0, COLS - len(value) - 1))
    cuts = sorted(set(draw(st.lists(st.integers(1, len(value) - 1), min_size=1, max_size=5))))
    pieces = list(itertools.pairwise([0, *cuts, len(value)]))
    order = draw(st.permutations(pieces))
    out = bytearray(b"x" * (col0 - 1) + b" " if col0 and draw(st.booleans()) else b"")
    here = len(out)
    for lo, hi in order:
        text = value[lo:hi].encode()
        if draw(st.booleans()):  # a decoy first, overwritten
            out += _goto(draw(_Move), here, col0 + lo) + b"X" * len(text)
            here = col0 + hi
        out += _goto(draw(_Move), here, col0 + lo) + text
        here = col0 + hi
    out += b"\r\n"
    chunk_cuts = draw(st.lists(st.integers(0, len(out)), max_size=6))
    points = sorted({0, len(out), *chunk_cuts})
    return card, [bytes(out[a:b]) for a, b in itertools.pairwise(points)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=_drawn(), flushes=st.booleans(), width=st.sampled_from([0, COLS]), crlf=st.booleans())
def test_no_card_drawn_with_cursor_tricks_ever_shows(
    drawn: tuple[str, list[bytes]], flushes: bool, width: int, crlf: bool
) -> None:
    card, chunks = drawn
    masker = StreamMasker(ENGINE, stream="stdout", width=width, crlf=crlf)
    screen = pyte.Screen(COLS, 24)
    stream = pyte.ByteStream(screen)
    for chunk in chunks:
        for out in (masker.feed(chunk), masker.flush() if flushes else b""):
            stream.feed(out)
            for line in screen.display:
                assert card not in re.sub(r"[ \-]", "", line), line
                assert not ENGINE.find_hits(line.encode()), line
    stream.feed(masker.flush(end=True))
    for line in screen.display:
        assert card not in re.sub(r"[ \-]", "", line), line


def test_a_bare_line_feed_on_a_pty_keeps_the_column() -> None:
    # stty -onlcr: LF moves down and keeps the column, so the next row's text starts at 11
    lines = _screen([b"XXXXXXXXXX\n", b"1111 1111 1111", b"\x1b[6G4111 "], flushes=True)
    assert any("MASKED" in line for line in lines), lines


def test_a_row_reached_by_a_vertical_move_is_followed_from_there() -> None:
    lines = _screen([b"top\r\n\r\n", b"\x1b[A", b"XXXX 1111 1111 1111", b"\r4111"])
    assert any("MASKED" in line for line in lines), lines


def test_a_card_with_no_break_spaces_drawn_out_of_order_is_masked() -> None:
    nbsp = "\u00a0".encode()
    lines = _screen([b"1111" + nbsp + b"1111" + nbsp + b"111X", b"\x1b[12D", b"\x1b[10C1"])
    assert lines[0].startswith("1111"), lines  # not a card: 12 digits
    lines = _screen([b"XXXX" + nbsp + b"1111" + nbsp + b"1111" + nbsp + b"1111", b"\r4111"])
    assert any("MASKED" in line for line in lines), lines
