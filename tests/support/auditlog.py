"""A real, signed audit log in a state dir, written with the broker's own journal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from broker.auditchain.record import AuditRecord
from broker.auditchain.signing import Signer
from broker.auditlog.journal import Journal
from broker.auditlog.keys import generate_signing_key, key_paths
from broker.auditlog.sinks import SinkDispatcher

Item = tuple[str, str, str, dict[str, Any]]


def write_state_log(state_dir: Path, items: Sequence[Item]) -> list[AuditRecord]:
    """Create the audit key under ``state_dir`` and write ``items`` to ``state_dir/audit``.

    Each item is ``(actor, action, target, details)``; returns the records as written.
    """
    key = generate_signing_key(key_paths(state_dir)[0])
    journal = Journal(state_dir / "audit", Signer(key), SinkDispatcher([]))
    journal.recover()
    try:
        return journal.write_batch(items)
    finally:
        journal.close(checkpoint=False)
