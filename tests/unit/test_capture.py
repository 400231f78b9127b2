"""Command capture from echoed output: what is on the line when Enter is pressed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.session.capture import LineCapture, render_line


def echo(chunks: list[str], typed: str = "") -> tuple[str, str | None]:
    """Feed output chunks, press Enter, then the target echoes a newline."""
    cap = LineCapture()
    for chunk in chunks:
        cap.feed_output(chunk)
    decision = cap.enter_pressed(typed)
    return decision, cap.feed_output("\r\n")


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
    decision, captured = echo(chunks)
    assert decision == command
    assert captured == command


def test_unechoed_input_is_judged_but_never_captured() -> None:
    decision, captured = echo(["Password: "], typed="hunter2")
    assert "hunter2" in decision
    assert captured == "Password:"


def test_paste_is_captured_from_its_echo() -> None:
    cap = LineCapture()
    cap.feed_output("user@h:~$ ")
    assert cap.enter_pressed("echo pasted") == "echo pasted"
    assert cap.feed_output("echo pasted\r\npasted\r\nuser@h:~$ ") == "echo pasted"


def test_no_capture_without_enter() -> None:
    cap = LineCapture()
    assert cap.feed_output("user@h:~$ ls\r\nfile\r\n") is None


def test_bare_prompt_is_no_command() -> None:
    assert echo(["user@h:~$ "]) == ("", None)


def test_bulk_output_keeps_only_the_tail() -> None:
    cap = LineCapture()
    cap.feed_output(("x" * 100 + "\n") * 10000 + "$ tail")
    assert cap.enter_pressed() == "tail"


@given(st.text(max_size=300))
def test_render_never_crashes(raw: str) -> None:
    assert "\n" not in render_line(raw.replace("\n", ""))
