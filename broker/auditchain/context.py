"""Details stamped on every audit record emitted within one session (e.g. the IdP identity)."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

_SESSION: ContextVar[dict[str, str] | None] = ContextVar("gatehouse_session", default=None)


def open_session_stamp() -> None:
    """Start this session's stamp, shared by every task the session starts from now on.

    The holder is one mutable mapping: a stamp added later by any of those tasks (the TUI's
    sign-in worker) reaches records emitted by all of them.
    """
    _SESSION.set({})


def stamp_session(details: Mapping[str, str]) -> None:
    """Add ``details`` to every record emitted by this session."""
    holder = _SESSION.get()
    if holder is None:
        _SESSION.set(dict(details))
    else:
        holder.update(details)


def stamped(details: Mapping[str, Any]) -> dict[str, Any]:
    """``details`` with this session's stamped fields (the stamp wins: a caller cannot forge it)."""
    extra = _SESSION.get()
    return {**details, **extra} if extra else dict(details)
