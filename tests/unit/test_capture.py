"""Command capture from echoed output: what is on the line when Enter is pressed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.proxy.capture import LineCapture, render_line


@pytest.mark.parametrize(
    ("chunks", "command"),
    [
        (["user@h:~$ ls -la"], "ls -la"),
        (["out\r\nlast line\r\n", "\x1b[01;32muser@h\x1b[00m:~$ ", "echo hi"], "echo hi"),
        (["$ ecoh", "\b\b\b\x1b[K", "cho"], "echo"),
        (["# rm -rf /tmp/x"], "rm -rf /tmp/x"),
        (["$ abc", "\x1b[2D\x1b[1P"], "ac"),
        (["$ ac", "\x1b[1D\x1b[1@b"], "abc"),
        (["\x1b]0;title\x07$ whoami"], "whoami"),
        (["noprompt"], "noprompt"),
    ],
)
def test_capture(chunks: list[str], command: str) -> None:
    cap = LineCapture()
    for chunk in chunks:
        cap.feed_output(chunk)
    assert cap.enter_pressed() == command


def test_enter_resets() -> None:
    cap = LineCapture()
    cap.feed_output("$ one")
    assert cap.enter_pressed() == "one"
    assert cap.enter_pressed() == ""


def test_bulk_output_keeps_only_the_tail() -> None:
    cap = LineCapture()
    cap.feed_output(("x" * 100 + "\n") * 10000 + "$ tail")
    assert cap.enter_pressed() == "tail"


@given(st.text(max_size=300))
def test_render_never_crashes(raw: str) -> None:
    assert "\n" not in render_line(raw.replace("\n", ""))


def test_pasted_line_with_enter_in_the_same_chunk() -> None:
    cap = LineCapture()
    cap.feed_output("user@h:~$ ")
    assert cap.enter_pressed("echo pasted") == "echo pasted"


def test_bare_prompt_is_no_command() -> None:
    cap = LineCapture()
    cap.feed_output("user@h:~$ ")
    assert cap.enter_pressed() == ""
