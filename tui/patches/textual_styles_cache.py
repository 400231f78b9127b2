"""Patch of `textual._styles_cache`: `StylesCache.get_inner_outer` cached once, not per instance.

The method is declared with a `cls` parameter but is not a classmethod, and is decorated
with `functools.lru_cache(1024)`: the cache keys on every `StylesCache` instance and holds
finished sessions' widgets alive (the same leak as DESIGN.md pitfall 4). Its result depends
only on the two colours.

The change Textual could take: make it a `staticmethod` over an `lru_cache` of the two
colours. This patch installs exactly that, calling the original (undecorated) function,
which never reads its first argument. `StylesCache.render_line`, its caller, is part of the
fingerprint because it calls the method on an instance with the two colours.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from textual._styles_cache import StylesCache

from tui.patches.gate import Patch

FINGERPRINT = "55c8434c2988ab370312e4d25b2287a1e4da68d8578323d4caaddde815105faf"
"""Source fingerprint of `StylesCache.get_inner_outer` and `render_line` in textual 8.2.8."""


def _targets() -> Sequence[object]:
    return (StylesCache.get_inner_outer, StylesCache.render_line)


def _install() -> None:
    cached: Any = StylesCache.get_inner_outer
    plain = cached.__wrapped__

    @functools.lru_cache(1024)
    @functools.wraps(plain)
    def get_inner_outer(base_background: Any, background: Any) -> Any:
        return plain(None, base_background, background)

    setattr(StylesCache, "get_inner_outer", staticmethod(get_inner_outer))  # noqa: B010


PATCH = Patch(
    "textual._styles_cache StylesCache.get_inner_outer cache", FINGERPRINT, _targets, _install
)
