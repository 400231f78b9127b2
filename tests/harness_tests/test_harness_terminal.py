"""tmux and pty clients show what a person would see, resize for real, and clean up."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from tests.harness import PtyClient, SshdTarget, TmuxClient, WaitTimeout, ssh_client_argv
from tests.harness.process import descendants, pid_alive, wait_until
from tests.harness.pty_client import key_bytes

BASH = ["bash", "--norc", "--noprofile"]
PROMPT = {"PS1": "$ "}


def test_tmux_shows_bash_output(tmux_client: Callable[..., TmuxClient]) -> None:
    term = tmux_client(BASH, env=PROMPT)
    term.send_text("echo out-$((6*7))")
    term.send_keys("Enter")
    screen = term.wait_for(re.compile(r"^out-42$", re.MULTILINE))
    assert screen.splitlines()[0] == "$ echo out-$((6*7))"


def test_tmux_resize_changes_tput_cols(tmux_client: Callable[..., TmuxClient]) -> None:
    term = tmux_client(BASH, cols=120, rows=40, env=PROMPT)
    term.send_text("echo size=$(tput cols)x$(tput lines)")
    term.send_keys("Enter")
    term.wait_for("size=120x40")
    term.resize(83, 21)
    term.send_text("clear; echo size=$(tput cols)x$(tput lines)")
    term.send_keys("Enter")
    screen = term.wait_for("size=83x21")
    assert len(screen.splitlines()) <= 21


def test_tmux_reports_exit_status(tmux_client: Callable[..., TmuxClient]) -> None:
    term = tmux_client(["bash", "-c", "echo bye; exit 7"])
    assert term.wait_exit(timeout=5) == 7
    assert "bye" in term.capture()


def test_tmux_wait_for_times_out_with_the_screen(tmux_client: Callable[..., TmuxClient]) -> None:
    term = tmux_client(BASH, env=PROMPT)
    term.send_text("echo visible")
    term.send_keys("Enter")
    term.wait_for("visible\n")
    began = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"(?s)never-shown.*last screen:.*visible"):
        term.wait_for("never-shown", timeout=0.3)
    assert time.monotonic() - began < 2


def test_tmux_kill_ends_server_and_program() -> None:
    term = TmuxClient.start(["sleep", "600"])
    server, program, socket = term.server_pid, term.pane_pid, term.socket_path
    children = wait_until(lambda: descendants(program) or None, timeout=5, what="sleep to start")
    assert pid_alive(server)
    assert pid_alive(program)
    term.kill()
    assert not pid_alive(server)
    assert not pid_alive(program)
    assert not any(pid_alive(child) for child in children)
    assert socket is not None
    assert not socket.exists()
    assert not term.workdir.exists()


def test_tmux_escapes_keep_colours(tmux_client: Callable[..., TmuxClient]) -> None:
    term = tmux_client(["bash", "-c", "printf '\\033[31mred\\033[0m\\n'; sleep 600"])
    term.wait_for("red")
    assert "\x1b[31m" in term.capture(escapes=True)
    assert "\x1b[" not in term.capture()


def test_pty_shows_bash_output_and_resizes(pty_client: Callable[..., PtyClient]) -> None:
    term = pty_client(BASH, env=PROMPT)
    term.wait_for("$")
    term.send_text("echo size=$(tput cols)x$(tput lines)")
    term.send_keys("Enter")
    term.wait_for("size=120x40")
    term.resize(90, 30)
    term.send_text("echo size=$(tput cols)x$(tput lines)")
    term.send_keys("Enter")
    term.wait_for("size=90x30")


def test_pty_times_the_echo_of_a_keystroke(pty_client: Callable[..., PtyClient]) -> None:
    term = pty_client(BASH, env=PROMPT)
    term.wait_for("$")
    mark = term.raw_length
    sent = term.send_text("z")
    arrived = term.wait_raw(b"z", since=mark, timeout=5)
    assert 0 <= arrived - sent < 1.0


def test_pty_wait_raw_does_not_match_before_the_mark(pty_client: Callable[..., PtyClient]) -> None:
    term = pty_client(["bash", "-c", "echo once; sleep 600"])
    term.wait_for("once")
    with pytest.raises(WaitTimeout, match="no b'once'"):
        term.wait_raw(b"once", since=term.raw_length, timeout=0.2)


def test_pty_wait_for_stops_when_the_program_exits(pty_client: Callable[..., PtyClient]) -> None:
    term = pty_client(["bash", "-c", "echo short-lived"])
    began = time.monotonic()
    with pytest.raises(WaitTimeout, match="closed the terminal"):
        term.wait_for("never-shown", timeout=5)
    assert time.monotonic() - began < 4
    assert term.wait_exit(timeout=5) == 0


def test_pty_kill_stops_the_program_and_its_jobs() -> None:
    term = PtyClient.start(["bash", "-c", "sleep 600 & echo started; wait"])
    term.wait_for("started")
    pid = term.pid
    term.kill()
    assert not pid_alive(pid)
    assert term.exit_status() is not None


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Enter", b"\r"), ("C-c", b"\x03"), ("C-D", b"\x04"), ("Up", b"\x1b[A"), ("q", b"q")],
)
def test_key_names(name: str, expected: bytes) -> None:
    assert key_bytes(name) == expected


@pytest.mark.parametrize("name", ["Hyper", "C-", "C-1", "", "Ent"])
def test_unknown_key_names_are_rejected(name: str) -> None:
    with pytest.raises(Exception, match="unknown key name"):
        key_bytes(name)


def test_ssh_client_argv_shape() -> None:
    argv = ssh_client_argv(2222, "alice", "/k", "run", "web-1", "--", "id")
    assert argv[0] == "ssh"
    assert argv[-6:] == ["-tt", "alice@127.0.0.1", "run", "web-1", "--", "id"]
    for option in ("BatchMode=yes", "IdentitiesOnly=yes", "KexAlgorithms=curve25519-sha256"):
        assert option in argv
    assert argv[argv.index("-p") + 1] == "2222"
    assert "-tt" not in ssh_client_argv(2222, "alice", "/k", tty=False)


def test_real_ssh_in_tmux_gets_the_window_size(
    sshd_target: SshdTarget, tmux_client: Callable[..., TmuxClient]
) -> None:
    argv = ssh_client_argv(sshd_target.port, sshd_target.user, sshd_target.client_key)
    term = tmux_client([*argv, "bash", "--norc", "-i"], cols=100, rows=30, env=PROMPT)
    term.send_text("echo remote=$(id -un):$(tput cols)")
    term.send_keys("Enter")
    term.wait_for(f"remote={sshd_target.user}:100")
    term.resize(70, 20)
    term.send_text("echo remote=$(tput cols)")
    term.send_keys("Enter")
    term.wait_for("remote=70")
    term.send_text("exit")
    term.send_keys("Enter")
    assert term.wait_exit(timeout=10) == 0
