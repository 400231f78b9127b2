"""The standalone player: `gatehouse recordings play` in the local terminal (no broker, no ssh)."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from recordings.replay import Player
from tui.commands import GatehouseCommands
from tui.screens.replay import ReplayScreen

__all__ = ["ReplayApp", "run_player"]


class ReplayApp(App[None]):
    """A local app holding only the player (``gatehouse recordings play``; no broker, no ssh)."""

    CSS_PATH = str(Path(__file__).resolve().parent / "app.tcss")
    TITLE = "Gatehouse"
    COMMANDS = {GatehouseCommands}
    """The player's own keys only (no screenshot or theme commands)."""
    COMMAND_PALETTE_DISPLAY = "^p"

    def __init__(self, player: Player, *, title: str = "", start: float = 0.0) -> None:
        super().__init__()
        self.player = player
        self.replay_title = title
        self.start_at = start

    def on_mount(self) -> None:
        screen = ReplayScreen(
            self.player, on_close=self.exit, title=self.replay_title, start=self.start_at
        )
        self.push_screen(screen)


def run_player(player: Player, *, title: str = "", start: float = 0.0) -> None:
    """Run the player in this process's terminal until the user closes it."""
    ReplayApp(player, title=title, start=start).run()
