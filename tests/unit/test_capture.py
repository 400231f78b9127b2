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


ALT_ON, ALT_OFF = "\x1b[?1049h", "\x1b[?1049l"
A, B, C, D = (f"\x1b]133;{m}\x07" for m in "ABCD")


@pytest.mark.parametrize(
    "program",
    [
        # vim: `:set columns=100` typed on its command line, Enter
        [ALT_ON, "\x1b[H\x1b[2J~\r\n~\r\n\x1b[40;1H:set columns=100"],
        # less: Enter scrolls one line of the file
        [ALT_ON, "services\r\nNetwork services, Internet style"],
        # htop, with the older mode numbers
        ["\x1b[?47h", "  PID USER\r\n  1 root"],
    ],
)
def test_nothing_is_captured_in_the_alternate_screen(program: list[str]) -> None:
    cap = LineCapture()
    cap.feed_output("user@h:~$ vim x\r\n")
    for chunk in program:
        cap.feed_output(chunk)
    cap.enter_pressed()
    assert cap.feed_output("\r\n") is None
    assert cap.feed_output(ALT_OFF + "user@h:~$ ") is None
    assert cap.enter_pressed() == ""
    cap.feed_output("")
    assert echo_into(cap, "ls") == "ls"


def echo_into(cap: LineCapture, typed: str) -> str | None:
    cap.feed_output(typed)
    cap.enter_pressed()
    return cap.feed_output("\r\n")


def test_alternate_screen_mode_split_across_chunks_is_seen() -> None:
    cap = LineCapture()
    cap.feed_output("$ vim\r\n\x1b[?10")
    cap.feed_output("49h~\r\n:wq")
    assert not cap.at_prompt
    cap.enter_pressed()
    assert cap.feed_output("\r\n") is None


def test_prompt_marks_cut_the_prompt_whatever_it_looks_like() -> None:
    cap = LineCapture()
    cap.feed_output(f"{A}[prod] ~/src (main) λ {B}")
    assert cap.enter_pressed("git status") == "git status"
    assert cap.feed_output("git status\r\n" + C + "On branch main\r\n") == "git status"


def test_with_prompt_marks_program_input_is_not_a_command() -> None:
    cap = LineCapture()
    cap.feed_output(f"{D}{A}$ {B}")
    assert echo_into(cap, "cat") == "cat"
    cap.feed_output(C)
    assert not cap.at_prompt
    # Typed into `cat` (a program's input, not the shell's): judged, never captured
    assert echo_into(cap, "$ not a command") is None
    cap.feed_output(f"{D}{A}$ {B}")
    assert cap.at_prompt
    assert echo_into(cap, "exit") == "exit"


def test_a_full_screen_programs_drawing_is_no_part_of_the_next_prompt_line() -> None:
    cap = LineCapture()
    cap.feed_output("user@h:~$ vim\r\n" + ALT_ON + "\x1b[H~\x1b[2;1H~\x1bP+q436f\x1b\\ junk")
    cap.feed_output(ALT_OFF + "user@h:~$ ")
    assert echo_into(cap, "less /etc/services") == "less /etc/services"


# What bash 5.2's readline sent for a line typed key by key into a 30-column terminal: at the
# right margin it forces the wrap with a space and CR.
WRAPPED = "$ echo abcdefghijklmnopqrstuvw \rxyz0123456789ABCDEFGHIJ"


def test_a_line_wider_than_the_terminal_is_captured_whole() -> None:
    cap = LineCapture(lambda: 30)
    cap.feed_output(WRAPPED)
    assert cap.enter_pressed() == "echo abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"
    assert cap.feed_output("\r\n") == "echo abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"


def test_a_value_across_the_wrap_is_not_cut_in_two() -> None:
    cap = LineCapture(lambda: 20)
    cap.feed_output("$ echo 4111 1111 111 \r1 1111")
    assert cap.enter_pressed() == "echo 4111 1111 1111 1111"


@pytest.mark.parametrize(
    ("raw", "width", "shown"),
    [
        ("abcdefghij\rX", 10, "Xbcdefghij"),  # CR while waiting to wrap: the same row
        ("abcdefghijk\rX", 10, "abcdefghijX"),  # CR after the wrap: the next row
        ("abcdefghijkl\x1b[1AZ", 10, "abZdefghijkl"),  # up one row
        ("abcdefghijkl\x1b[K", 10, "abcdefghijkl"),
        ("abcdefghijkl\x1b[1D\x1b[K", 10, "abcdefghijk"),
        ("abcdefghijkl\x1b[1A\x1b[K", 10, "ab        kl"),  # erase to the end of the row only
        ("abcdefghijkl\b\b\bX", 10, "abcdefghijXl"),  # BS stops at the row's start
    ],
)
def test_rows_of_a_wrapped_line(raw: str, width: int, shown: str) -> None:
    assert render_line(raw, width) == shown


@given(st.text(max_size=300), st.integers(min_value=1, max_value=40))
def test_render_with_a_width_never_crashes(raw: str, width: int) -> None:
    assert "\n" not in render_line(raw.replace("\n", ""), width)
