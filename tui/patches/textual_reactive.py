"""Patch of `textual.dom`'s `_watch`: a new watcher drops the watchers of closed nodes first.

`DOMNode.watch` (and so `data_bind`) appends ``(node, callback)`` to the watched object's
watcher list; Textual drops the entries of closed nodes only when the watched reactive
changes. A reactive that never changes keeps every node that ever bound to it: the Footer
recomposes on each bindings change (a filter key, a focus change) and each new FooterKey
binds to `Footer.compact`, so a TUI session kept five removed FooterKeys (with their styles
and caches) reachable per recompose until it closed (decision 026).

The change Textual could take: prune closed watchers when adding one, as `_check_watchers`
does when the value changes. This patch wraps `_watch` where `DOMNode.watch` looks it up.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import textual.dom
from textual.dom import DOMNode
from textual.reactive import Reactive, _watch

from tui.patches.gate import Patch

FINGERPRINT = "d8e5b5dd639b6c4282e43210d3bd303fd50ef8fb410c3cf6f40ba60b084df35d"
"""Source fingerprint of `_watch`, `DOMNode.watch` and `Reactive._check_watchers` (8.2.8)."""


def _targets() -> Sequence[object]:
    return (_watch, DOMNode.watch, Reactive._check_watchers)


def _install() -> None:
    original = _watch

    @functools.wraps(original)
    def watch_pruned(
        node: DOMNode, obj: Any, attribute_name: str, callback: Any, *, init: bool = True
    ) -> None:
        watchers = getattr(obj, "__watchers", None)
        if watchers and attribute_name in watchers:
            listed = watchers[attribute_name]
            listed[:] = [(owner, call) for owner, call in listed if not owner._closing]
        original(node, obj, attribute_name, callback, init=init)

    textual.dom._watch = watch_pruned  # type: ignore[attr-defined]


PATCH = Patch("textual.dom _watch closed watchers", FINGERPRINT, _targets, _install)
