"""The live "N values masked" indicator: window title in a pty session, a stderr line after run."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.masking import MaskingEngine, MaskingPolicy
from broker.masking.filter import TITLE_INTERVAL, MaskingFilter, OutputBoundary

KEY = b"test-key-0123456789abcdef"
CARD = b"4111 1111 1111 1111"
EMAIL = b"jane.doe@example.com"
TITLE = re.compile(rb"\x1b\]2;([^\x07\x1b]*)\x07")
ENGINE = MaskingEngine(MaskingPolicy(), key=KEY)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _pty_filter(clock: Clock) -> MaskingFilter:
    return MaskingFilter(ENGINE, pty=True, clock=clock)


def _titles(data: bytes) -> list[bytes]:
    return TITLE.findall(data)


def test_title_follows_the_masked_output_and_holds_counts_not_values() -> None:
    clock = Clock()
    stage = _pty_filter(clock)
    out = stage.feed(b"card " + CARD + b" mail " + EMAIL + b"\r\n", False)
    body = out.partition(b"\x1b]2;")[0]
    assert CARD not in out
    assert EMAIL not in out
    assert b"[MASKED:credit_card]" in body
    assert _titles(out) == [b"gatehouse: 2 values masked (credit_card 1, email 1)"]
    assert out.endswith(b"\x07")  # appended after the masker's output, never inside it


def test_titles_are_throttled_and_the_end_shows_the_final_count() -> None:
    clock = Clock()
    stage = _pty_filter(clock)
    assert len(_titles(stage.feed(b"a " + CARD + b"\r\n", False))) == 1
    clock.now += TITLE_INTERVAL / 2
    assert _titles(stage.feed(b"b " + EMAIL + b"\r\n", False)) == []
    assert _titles(stage.flush(False)) == []
    clock.now += TITLE_INTERVAL / 4
    assert _titles(stage.feed(b"plain\r\n", False)) == []
    stage.end()
    assert _titles(stage.flush(False)) == [b"gatehouse: 2 values masked (credit_card 1, email 1)"]
    assert _titles(stage.flush(False)) == []  # nothing new: no title


def test_a_throttled_update_shows_with_later_output_once_a_second_has_passed() -> None:
    clock = Clock()
    stage = _pty_filter(clock)
    stage.feed(b"a " + CARD + b"\r\n", False)
    clock.now += 0.1
    assert _titles(stage.feed(b"b " + CARD + b"\r\n", False)) == []
    clock.now += TITLE_INTERVAL
    assert _titles(stage.feed(b"ls\r\n", False)) == [b"gatehouse: 2 values masked (credit_card 2)"]


def test_no_title_while_the_output_ends_inside_a_utf8_character() -> None:
    stage = _pty_filter(Clock())
    out = stage.feed(b"card " + CARD + b" caf\xc3", False)
    assert _titles(out) == []
    out = stage.feed(b"\xa9 done\r\n", False)
    assert out.startswith(b"\xa9")
    assert _titles(out) == [b"gatehouse: 1 value masked (credit_card 1)"]


def test_a_string_sequence_the_target_leaves_open_is_held_and_the_title_is_not_delayed() -> None:
    stage = _pty_filter(Clock())
    out = stage.feed(b"card " + CARD + b"\r\n\x1b]0;my own title, still open", False)
    assert (
        out == b"card [MASKED:credit_card]\r\n\x1b]2;gatehouse: 1 value masked (credit_card 1)\x07"
    )
    out = stage.feed(b" and closed\x07$ ", False)
    assert out == b"\x1b]0;my own title, still open and closed\x07$ "


def test_without_a_pty_output_is_untouched_and_stderr_gets_one_line_at_the_end() -> None:
    stage = MaskingFilter(ENGINE, pty=False, clock=Clock())
    stdout = stage.feed(b"card " + CARD + b"\n", False) + stage.flush(False)
    stderr = stage.feed(b"warning: " + EMAIL, True)
    assert b"\x1b" not in stdout
    assert b"gatehouse:" not in stdout + stderr
    stage.end()
    stdout += stage.flush(False)
    stderr += stage.flush(True)
    assert b"gatehouse" not in stdout
    assert stderr.endswith(b"\ngatehouse: 2 values masked (credit_card 1, email 1)\n")
    assert EMAIL not in stderr
    assert stage.flush(True) == b""  # once


def test_without_a_pty_and_nothing_masked_there_is_no_notice() -> None:
    stage = MaskingFilter(ENGINE)
    out = stage.feed(b"hello\n", False) + stage.feed(b"oops\n", True)
    stage.end()
    assert out + stage.flush(False) + stage.flush(True) == b"hello\noops\n"


def test_the_audit_summary_names_the_policy() -> None:
    stage = MaskingFilter(ENGINE, scope="prod-dba")
    stage.feed(CARD + b"\n", False)
    assert stage.summary()["policy"] == "prod-dba"
    assert MaskingFilter(ENGINE).summary() == {}


# -- where a title may go: OutputBoundary ------------------------------------------------------


@pytest.mark.parametrize(
    ("chunks", "at_rest"),
    [
        ([b"plain text"], True),
        ([b"\x1b"], False),
        ([b"\x1b["], False),
        ([b"\x1b[38;5;1"], False),
        ([b"\x1b[38;5;1", b"m"], True),
        ([b"\x1b[38;5;1m"], True),
        ([b"\x1b[?1049h"], True),
        ([b"\x1b("], False),
        ([b"\x1b(B"], True),
        ([b"\x1b7"], True),
        ([b"\x1b]0;title"], False),
        ([b"\x1b]0;title", b" more"], False),
        ([b"\x1b]0;title", b" more\x07 text"], True),
        ([b"\x1b]0;title\x1b"], False),
        ([b"\x1b]0;title\x1b", b"\\"], True),
        ([b"\x1bPq#0;2;0;0;0"], False),
        ([b"\x1bPq#0;2;0;0;0\x07"], False),  # BEL ends an OSC string, not a DCS one
        ([b"\x1bPq#0", b"\x07 more"], False),
        ([b"\x1bPq#0", b"\x07 more\x1b\\"], True),
        ([b"\x1b_app", b"\x18"], True),  # CAN aborts a string
        ([b"\x1b[12\x01"], False),  # malformed: unsure, so not at rest …
        ([b"\x1b[12\x01", b"m x"], False),
        ([b"\x1b[12\x01", b"m \x1b[0m"], True),  # … until the next ESC settles it
        ([b"caf\xc3"], False),
        ([b"caf\xc3", b"\xa9"], True),
        ([b"\xf0\x9f"], False),
        ([b"\xf0\x9f", b"\x98"], False),
        ([b"\xf0\x9f", b"\x98", b"\x80"], True),
        ([b"\xe2\x82\xac"], True),
    ],
)
def test_boundary_table(chunks: list[bytes], at_rest: bool) -> None:
    boundary = OutputBoundary()
    for chunk in chunks:
        boundary.feed(chunk)
    assert boundary.at_rest is at_rest


TOKENS = st.sampled_from(
    [
        b"a",  # plain text may be cut anywhere: one byte a token
        b" ",
        b"\r",
        b"\n",
        "é".encode(),
        "€".encode(),
        "😀".encode(),
        b"\x1b[0m",
        b"\x1b[38;2;10;20;30m",
        b"\x1b[?25l",
        b"\x1b(0",
        b"\x1b=",
        b"\x1b]0;a title\x07",
        b"\x1b]8;;http://x\x1b\\",
        b"\x1bP1$r0m\x1b\\",
        b"\x1bPq\x07#0\x1b\\",
    ]
)


@settings(max_examples=300, deadline=None)
@given(tokens=st.lists(TOKENS, min_size=1, max_size=30), cuts=st.lists(st.integers(0, 400)))
def test_at_rest_exactly_between_whole_tokens(tokens: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(tokens)
    ends = {0}
    for token in tokens:
        ends.add(max(ends) + len(token))
    points = sorted({c for c in cuts if 0 < c < len(stream)} | {len(stream)})
    boundary = OutputBoundary()
    start = 0
    for point in points:
        boundary.feed(stream[start:point])
        start = point
        assert boundary.at_rest is (point in ends), (stream, point)
