"""The player's progress bar: position, command marks, click to seek."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget


def fmt_time(t: float) -> str:
    """Format seconds as ``m:ss`` (or ``h:mm:ss`` from an hour on)."""
    s = max(0, int(t))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Timeline(Widget):
    """The progress bar (click to seek) and the playback state under it."""

    DEFAULT_CSS = """
    Timeline { height: 2; }
    """

    class Seeked(Message):
        """The user clicked the bar at ``time`` seconds."""

        def __init__(self, time: float) -> None:
            super().__init__()
            self.time = time

    def __init__(self, duration: float, marks: list[float], *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.duration = duration
        self.marks = marks
        self.position = 0.0
        self.state = ""

    def show(self, position: float, state: str) -> None:
        """Set the position and the state text, then repaint."""
        self.position, self.state = position, state
        self.refresh()

    def render(self) -> Text:
        width = max(1, self.size.width)
        done = int(width * self.position / self.duration) if self.duration > 0 else width
        bar = ["━"] * done + ["─"] * (width - done)
        for t in self.marks:
            x = min(width - 1, int(width * t / self.duration)) if self.duration > 0 else 0
            bar[x] = "┃"
        text = Text()
        text.append("".join(bar[:done]), style="bold green")
        text.append("".join(bar[done:]), style="dim")
        text.append(f"\n{fmt_time(self.position)} / {fmt_time(self.duration)}  {self.state}")
        return text

    def on_click(self, event: events.Click) -> None:
        if event.y == 0 and self.size.width > 0:
            event.stop()
            self.post_message(self.Seeked(self.duration * event.x / max(1, self.size.width - 1)))
