"""`gatehouse recordings play`: the replay pane in a real terminal (tmux), no broker, no ssh."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from recordings.store import RecordingStore
from tests.harness.tmux import TmuxClient
from tests.tui.replay_fakes import write_session

ROOT = Path(__file__).resolve().parents[3]


def test_play_runs_the_player_locally(
    tmp_path: Path, tmux_client: Callable[..., TmuxClient]
) -> None:
    write_session(RecordingStore(tmp_path), "s1")
    argv = [sys.executable, "-m", "broker.cli", "recordings", "play", "s1", "--dir", str(tmp_path)]
    client = tmux_client(argv, cols=100, rows=30, cwd=ROOT)
    screen = client.wait_for("0:00 / 0:45", timeout=20)
    assert "Replay s1" in screen
    client.send_keys("]")
    client.wait_for("command 1/3 at 0:01: ls")
    client.send_keys("End")
    screen = client.wait_for("0:45 / 0:45")
    assert "needle-42" in screen
    client.send_keys("q")
    assert client.wait_exit(timeout=10) == 0


def test_play_starts_at_a_moment(tmp_path: Path, tmux_client: Callable[..., TmuxClient]) -> None:
    write_session(RecordingStore(tmp_path), "s1")
    argv = [sys.executable, "-m", "broker.cli", "recordings", "play", "s1", "--at", "0:32.5"]
    client = tmux_client([*argv, "--dir", str(tmp_path)], cols=100, rows=30, cwd=ROOT)
    screen = client.wait_for("0:32 / 0:45", timeout=20)
    assert "log line 19" in screen
    client.send_keys("Escape")
    assert client.wait_exit(timeout=10) == 0


def test_play_unknown_id_exits_1_before_any_ui(
    tmp_path: Path, tmux_client: Callable[..., TmuxClient]
) -> None:
    argv = [
        sys.executable,
        "-m",
        "broker.cli",
        "recordings",
        "play",
        "nope",
        "--dir",
        str(tmp_path),
    ]
    client = tmux_client(argv, cols=100, rows=30, cwd=ROOT)
    assert client.wait_exit(timeout=20) == 1
    assert "no recording 'nope'" in client.capture()
