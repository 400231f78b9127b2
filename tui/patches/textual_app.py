"""Patch of `textual.app`: an embedded App must not redirect the process's stdout and stderr.

`App._process_messages` wraps each app's whole run in `contextlib.redirect_stdout` and
`redirect_stderr` (names it looks up in `textual.app`). Those swap the process-global
`sys.stdout`/`sys.stderr`, so when runs overlap (one app per SSH channel, ending in any
order) `sys.stdout` is left pointing at an app that has finished, and keeps it alive
(DESIGN.md pitfall 3).

The change Textual could take: let an application that embeds apps opt out of the
redirect (an `App` class variable checked in `_process_messages`). The broker runs only
such apps, so this patch opts every app in the process out, by making the two names in
`textual.app` context managers that leave the streams alone. The broker never prints from
inside an app, so nothing is lost.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import IO

import textual.app

from tui.patches.gate import Patch

FINGERPRINT = "af9d229f75e7d3b98628d3dc65e1126429126bc49a7172a013ee4ac3fe5471e7"
"""Source fingerprint of `App._process_messages` in textual 8.2.8."""


@contextlib.contextmanager
def no_redirect(_target: IO[str] | None) -> Iterator[None]:
    """Stand-in for `contextlib.redirect_stdout`/`redirect_stderr` that redirects nothing."""
    yield


def _targets() -> Sequence[object]:
    return (textual.app.App._process_messages,)


def _install() -> None:
    setattr(textual.app, "redirect_stdout", no_redirect)  # noqa: B010
    setattr(textual.app, "redirect_stderr", no_redirect)  # noqa: B010


PATCH = Patch(
    "textual.app App._process_messages stdout/stderr redirect", FINGERPRINT, _targets, _install
)
