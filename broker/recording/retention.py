"""Recording retention: delete recordings past the configured age; each deletion is audited."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from broker.auditchain.events import Action
from broker.common.errors import RecordingError
from recordings.store import RecordingStore

log = logging.getLogger(__name__)
SWEEP_INTERVAL = 3600.0

Emit = Callable[[str, Action, str, Mapping[str, Any]], Awaitable[None]]
"""The audit event sink: ``emit(actor, action, target, details)``."""


async def sweep_once(
    store: RecordingStore, days: int, emit: Emit, now: float | None = None
) -> list[str]:
    """Delete recordings older than ``days`` now; returns their ids (hashes stay audited)."""
    cutoff = (time.time() if now is None else now) - days * 86400
    deleted = []
    for info in await asyncio.to_thread(store.expired, cutoff):
        try:
            sha = await asyncio.to_thread(store.delete, info.session_id)
        except RecordingError as exc:
            log.error("retention: cannot delete %s: %s", info.session_id, exc)
            continue
        meta = info.header.meta
        await emit(
            "gatehouse",
            Action.RECORDING_DELETED,
            info.session_id,
            {
                "sha256": sha,
                "reason": f"retention ({days} days)",
                "user": meta.user if meta else "",
                "connection": meta.connection if meta else "",
                "started": info.started,
            },
        )
        deleted.append(info.session_id)
    return deleted


async def retention_loop(store: RecordingStore, days: int, emit: Emit) -> None:
    """Sweep at start and then every hour, until cancelled."""
    while True:
        try:
            removed = await sweep_once(store, days, emit)
            if removed:
                log.info("retention: deleted %d recordings", len(removed))
        except Exception:
            log.exception("retention sweep failed")
        await asyncio.sleep(SWEEP_INTERVAL)
