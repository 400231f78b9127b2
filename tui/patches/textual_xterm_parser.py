"""Patch of `textual._xterm_parser`: no cache on `XTermParser._parse_extended_key`.

The method is decorated with `functools.lru_cache(maxsize=1024)`; a cache on a method keys
on `self`, so it keeps up to 1024 parsers (and through them their drivers and apps) alive
after their sessions ended (DESIGN.md pitfall 4). The sequences it parses are short and
arrive at typing speed, so the cache buys nothing.

The change Textual could take: drop the decorator (or cache per parser). This patch puts
the undecorated function back on the class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual._xterm_parser import XTermParser

from tui.patches.gate import Patch

FINGERPRINT = "fbb3acac5d07cd3da3ba998219326b96b3cdebbdfa4bfe0a5841fedf6f857aef"
"""Source fingerprint of `XTermParser._parse_extended_key` in textual 8.2.8."""


def _targets() -> Sequence[object]:
    return (XTermParser._parse_extended_key,)


def _install() -> None:
    cached: Any = XTermParser._parse_extended_key
    XTermParser._parse_extended_key = cached.__wrapped__  # type: ignore[method-assign]


PATCH = Patch(
    "textual._xterm_parser XTermParser._parse_extended_key cache", FINGERPRINT, _targets, _install
)
