"""The audit log as the broker's EventSink, with strict mode (no audit, no access)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from broker.auditchain.context import stamped
from broker.auditchain.events import Action
from broker.auditlog.console import log_console
from broker.auditlog.keys import generate_signing_key, load_signing_key
from broker.auditlog.sinks import sinks_from_config
from broker.auditlog.writer import AuditLog, append_sync
from broker.common.errors import AuditWriteError
from broker.config.model import Config
from broker.config.state import StatePaths

log = logging.getLogger(__name__)


class AuditEvents:
    """Every event becomes a signed, chained, fsynced audit record before the call returns."""

    def __init__(self, audit: AuditLog, *, strict: bool) -> None:
        self.audit = audit
        self.strict = strict

    @classmethod
    async def open(cls, config: Config, *, worker: int | None = None) -> AuditEvents:
        paths = StatePaths(config.state_dir)
        if not paths.audit_key.exists():
            generate_signing_key(paths.audit_key)
        audit = await AuditLog.open(
            paths.audit_dir,
            load_signing_key(paths.audit_key),
            sinks_from_config(config.audit.sinks, config.path.parent),
            startup_details={"config": str(config.path)}
            if worker is None
            else {"config": str(config.path), "worker": worker},
        )
        return cls(audit, strict=config.audit.strict)

    @property
    def healthy(self) -> bool:
        return self.audit.healthy

    async def emit(
        self, actor: str, action: Action, target: str, details: Mapping[str, Any]
    ) -> None:
        details = stamped(details)
        try:
            await self.audit.append(actor, action, target, details)
        except AuditWriteError:
            if self.strict:
                raise
            log.error("audit record lost (strict mode off): %s %s %s", actor, action, target)
        log_console(actor, action, target, details)

    async def close(self) -> None:
        await self.audit.close()


def record_cli_event(
    config: Config, actor: str, action: Action, target: str, details: Mapping[str, Any]
) -> None:
    """Append one record from a CLI command (e.g. `secret set`), safely beside a running broker."""
    paths = StatePaths(config.state_dir)
    append_sync(
        paths.audit_dir,
        load_signing_key(paths.audit_key),
        actor,
        action,
        target,
        dict(details),
        sinks=sinks_from_config(config.audit.sinks, config.path.parent),
    )
