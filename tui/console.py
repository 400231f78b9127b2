"""The App's Rich console, built from the SSH client's terminal (DESIGN.md pitfall 6)."""

from __future__ import annotations

from rich.console import Console


class NullFile:
    """A terminal-like file where writes go nowhere (the driver writes frames itself)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""

    def isatty(self) -> bool:
        return True


def color_system_for(term_type: str, colorterm: str = "") -> str | None:
    """The Rich colour system a client's TERM / COLORTERM asks for (pitfall 6)."""
    term = term_type.lower()
    if colorterm.lower() in ("truecolor", "24bit") or term.endswith(("-direct", "truecolor")):
        return "truecolor"
    if not term or term == "dumb":
        return None
    if "256" in term:
        return "256"
    return "standard"


def build_console(term_type: str, colorterm: str = "") -> Console:
    """An App console built from the SSH client's terminal, not the broker's environment.

    A daemonised broker has no TERM of its own; Textual's default console reads
    it and would send no colour at all.
    """
    environ = {"TERM": term_type or "xterm-256color"}
    if colorterm:
        environ["COLORTERM"] = colorterm
    return Console(
        color_system=color_system_for(term_type, colorterm),  # type: ignore[arg-type]
        file=NullFile(),  # type: ignore[arg-type]
        markup=True,
        highlight=False,
        emoji=False,
        legacy_windows=False,
        _environ=environ,
        force_terminal=True,
        safe_box=False,
        soft_wrap=False,
    )
