"""Recording retention: delete recordings past the configured age; each deletion is audited."""

from __future__ import annotations

import asyncio
import logging
import time

from broker.common.errors import RecordingError
from broker.services import Services

log = logging.getLogger(__name__)
SWEEP_INTERVAL = 3600.0


async def sweep_once(services: Services, now: float | None = None) -> list[str]:
    """Delete expired recordings now; returns their ids (the hashes stay in the audit log)."""
    days = services.config.recording.retention_days
    cutoff = (time.time() if now is None else now) - days * 86400
    store = services.review.store
    deleted = []
    for info in await asyncio.to_thread(store.expired, cutoff):
        try:
            sha = await asyncio.to_thread(store.delete, info.session_id)
        except RecordingError as exc:
            log.error("retention: cannot delete %s: %s", info.session_id, exc)
            continue
        meta = info.header.meta
        await services.events.emit(
            "gatehouse",
            "recording.deleted",
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


async def retention_loop(services: Services) -> None:
    """Sweep at start and then every hour, until cancelled."""
    while True:
        try:
            removed = await sweep_once(services)
            if removed:
                log.info("retention: deleted %d recordings", len(removed))
        except Exception:
            log.exception("retention sweep failed")
        await asyncio.sleep(SWEEP_INTERVAL)
