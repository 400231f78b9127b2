"""Textual compatibility shims for serving many apps in one process (textual pinned at 8.2.8).

Each shim fixes one reproduced pitfall (see DESIGN.md "Serving Textual over SSH");
the tests in tests/tui/test_compat.py fail without them.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import IO, Any

import textual.app
from rich.console import Console
from textual import constants
from textual._styles_cache import StylesCache
from textual._xterm_parser import XTermParser
from textual.filter import ANSIToTruecolor

ESCAPE_DELAY: float = constants.ESCAPE_DELAY
"""Seconds after a lone Esc before the parser gives up waiting for a sequence (pitfall 2)."""

_applied = False


@contextlib.contextmanager
def _no_redirect(_target: IO[str] | None) -> Iterator[None]:
    yield


def apply_textual_patches() -> None:
    """Install the process-wide shims once (idempotent)."""
    global _applied
    if _applied:
        return
    # Pitfall 3: App._process_messages wraps the whole app run in process-global
    # contextlib.redirect_stdout/stderr. With overlapping sessions sys.stdout ends
    # up pointing at a finished app (and keeps it alive). The broker never prints
    # from inside an app, so the redirect is neutralised.
    setattr(textual.app, "redirect_stdout", _no_redirect)  # noqa: B010
    setattr(textual.app, "redirect_stderr", _no_redirect)  # noqa: B010
    # Pitfall 4: XTermParser._parse_extended_key is an lru_cache on a method: the
    # cache holds `self`, so up to 1024 finished parsers (and their apps) stay alive.
    cached: Any = XTermParser._parse_extended_key
    if hasattr(cached, "__wrapped__"):
        XTermParser._parse_extended_key = cached.__wrapped__  # type: ignore[method-assign]
    _patch_style_caches()
    _applied = True


def _patch_style_caches() -> None:
    """Two more method-level lru_caches that keep finished sessions alive (same as pitfall 4).

    `StylesCache.get_inner_outer` (declared with `cls` but not a classmethod) keys its cache on
    every StylesCache instance, and `ANSIToTruecolor.truecolor_style` on every filter; both
    hold closed apps' widgets and strips. The first is independent of its instance, so one
    shared cache serves all; the second gets a cache per instance, freed with it.
    """
    inner_outer: Any = StylesCache.get_inner_outer
    if hasattr(inner_outer, "__wrapped__"):
        plain = inner_outer.__wrapped__
        shared = functools.lru_cache(1024)(lambda base, background: plain(None, base, background))

        def get_inner_outer(self: StylesCache, base: Any, background: Any) -> Any:
            return shared(base, background)

        setattr(StylesCache, "get_inner_outer", get_inner_outer)  # noqa: B010
    truecolor: Any = ANSIToTruecolor.truecolor_style
    if hasattr(truecolor, "__wrapped__"):
        plain_tc = truecolor.__wrapped__
        original_init = ANSIToTruecolor.__init__

        def __init__(self: ANSIToTruecolor, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            self.truecolor_style = functools.lru_cache(1024)(functools.partial(plain_tc, self))

        setattr(ANSIToTruecolor, "__init__", __init__)  # noqa: B010


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
        file=textual.app._NullFile(),  # type: ignore[arg-type]
        markup=True,
        highlight=False,
        emoji=False,
        legacy_windows=False,
        _environ=environ,
        force_terminal=True,
        safe_box=False,
        soft_wrap=False,
    )
