"""Patch of `textual.filter`: `ANSIToTruecolor.truecolor_style` cached per filter, not per class.

The method is decorated with `functools.lru_cache(1024)`, which keys on `self`: the one
class-wide cache holds up to 1024 filters (and the terminal themes and strips they saw)
alive after their apps ended (the same leak as DESIGN.md pitfall 4).

The change Textual could take: build the cache per instance in `__init__`, so it is freed
with its filter. This patch does that, wrapping `__init__`; `apply`, the caller, reads the
method from the instance, so it picks up the instance's cache.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from textual.filter import ANSIToTruecolor

from tui.patches.gate import Patch

FINGERPRINT = "858797ebb66dca81f59b2c9ae40162fa101d95df17f70bcb3f16f3870c5e2645"
"""Source fingerprint of `ANSIToTruecolor.__init__`, `truecolor_style` and `apply` (8.2.8)."""


def _targets() -> Sequence[object]:
    return (ANSIToTruecolor.__init__, ANSIToTruecolor.truecolor_style, ANSIToTruecolor.apply)


def _install() -> None:
    cached: Any = ANSIToTruecolor.truecolor_style
    plain = cached.__wrapped__
    original_init = ANSIToTruecolor.__init__

    @functools.wraps(original_init)
    def __init__(self: ANSIToTruecolor, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.truecolor_style = functools.lru_cache(1024)(functools.partial(plain, self))

    setattr(ANSIToTruecolor, "__init__", __init__)  # noqa: B010


PATCH = Patch(
    "textual.filter ANSIToTruecolor.truecolor_style cache", FINGERPRINT, _targets, _install
)
