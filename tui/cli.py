"""The TUI's part of the command line: the interactive player behind `recordings play`.

Loaded by name as a plugin of `broker.cli` (broker and recordings never import tui);
Textual itself is imported only when a recording is played.
"""

from __future__ import annotations

import argparse

from broker.recording.cli import set_player_ui
from recordings.replay import Player


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds no command: gives `gatehouse recordings play` the TUI's player."""
    set_player_ui(_play)


def _play(player: Player, title: str, start: float) -> None:
    from tui.player import run_player

    run_player(player, title=title, start=start)
