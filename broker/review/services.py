"""Review services: recordings and audit records, as reviewers and auditors may see them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from broker.auditchain.events import Action
from broker.auditlog.keys import load_state_public_key
from broker.auditlog.query import RecordFilter, RecordView, read_recent
from broker.common.errors import PolicyDenied
from broker.policy.roles import DEFAULT_ROLES, Roles
from broker.review.audit import LiveVerifier, Poll
from broker.session.terminal import Principal
from recordings.replay import Player
from recordings.store import RecordingInfo, RecordingStore, StoreMatch

LIVE_POLL_SECONDS = 0.05
"""Pause before each read-back of live audit records."""


async def _pause() -> None:
    await asyncio.sleep(LIVE_POLL_SECONDS)


@dataclass
class Viewing:
    """An open recording; :meth:`ReviewServices.close_recording` audits how long it was watched."""

    session_id: str
    player: Player
    opened: float


class ReviewServices:
    """What the recordings and audit panes may ask; every answer is filtered by role."""

    def __init__(
        self,
        recordings_dir: Any,
        audit_dir: Any,
        state_dir: Any,
        emit: Callable[[str, Action, str, dict[str, Any]], Any],
        *,
        roles: Roles = DEFAULT_ROLES,
        poll: Poll | None = None,
    ) -> None:
        """Serve the recordings and audit log below these directories.

        ``roles`` says which groups review and audit (policy ``roles``; today's group names
        by default). ``poll`` is awaited before each read-back of live audit records (by
        default a pause of :data:`LIVE_POLL_SECONDS`, so that records arriving together are
        read back together).
        """
        self.roles = roles
        """Which groups review and audit (policy ``roles``)."""
        self.store = RecordingStore(recordings_dir)
        self.audit_dir = audit_dir
        self.state_dir = state_dir
        self._emit = emit
        self._poll: Poll = poll or _pause
        self.subscribe: Callable[[Callable[[Any], None]], Callable[[], None]] | None = None
        """Set by the broker when a live audit log runs: add a listener, get an unsubscribe."""

    # -- recordings ---------------------------------------------------------------

    def is_reviewer(self, principal: Principal) -> bool:
        """Whether ``principal`` holds the reviewers role (sees every recording)."""
        return self.roles.holds("reviewers", principal.groups)

    def is_auditor(self, principal: Principal) -> bool:
        """Whether ``principal`` holds the auditors role (reads the audit log)."""
        return self.roles.holds("auditors", principal.groups)

    def _visible(self, principal: Principal, info: RecordingInfo) -> bool:
        meta = info.header.meta
        return self.is_reviewer(principal) or (meta is not None and meta.user == principal.name)

    async def list_recordings(self, principal: Principal) -> list[RecordingInfo]:
        """Recordings ``principal`` may see: all for reviewers, else their own; newest first."""
        infos = await asyncio.to_thread(self.store.list)
        return [info for info in infos if self._visible(principal, info)]

    async def search_recordings(self, principal: Principal, text: str) -> list[StoreMatch]:
        """Which visible sessions showed or ran ``text``, and when."""
        ids = [info.session_id for info in await self.list_recordings(principal)]
        return await asyncio.to_thread(self.store.search, text, session_ids=ids)

    async def open_recording(self, principal: Principal, session_id: str) -> Viewing:
        """Open a recording for replay (audited as `recording.viewed` when closed).

        Raises:
            PolicyDenied: the recording is not one ``principal`` may see.
        """
        visible = {i.session_id for i in await self.list_recordings(principal)}
        if session_id not in visible:
            raise PolicyDenied(f"no recording {session_id!r} that you may view", rule="reviewers")
        player = await asyncio.to_thread(self.store.open, session_id)
        return Viewing(session_id, player, time.monotonic())

    async def close_recording(self, principal: Principal, viewing: Viewing) -> None:
        """Record who watched which recording, and for how long."""
        seconds = round(time.monotonic() - viewing.opened, 1)
        await self._emit(
            principal.name, Action.RECORDING_VIEWED, viewing.session_id, {"seconds": seconds}
        )

    # -- audit ----------------------------------------------------------------------

    def _auditors_only(self) -> str:
        groups = ", ".join(self.roles.auditors) or "no group"
        return f"the audit log is for the auditors role (groups: {groups})"

    async def audit_records(
        self, principal: Principal, where: RecordFilter, limit: int = 500
    ) -> list[RecordView]:
        """Recent audit records matching ``where``, each with its verification status.

        Raises:
            PolicyDenied: ``principal`` does not hold the auditors role.
        """
        if not self.is_auditor(principal):
            raise PolicyDenied(self._auditors_only(), rule="auditors")
        key = load_state_public_key(self.state_dir)
        return await asyncio.to_thread(read_recent, self.audit_dir, key, limit, where)

    def watch_audit(
        self, principal: Principal, listener: Callable[[Any], None]
    ) -> Callable[[], None]:
        """Call ``listener(record)`` for each new audit record; returns the unsubscribe.

        Raises:
            PolicyDenied: ``principal`` does not hold the auditors role.
        """
        if not self.is_auditor(principal):
            raise PolicyDenied(self._auditors_only(), rule="auditors")
        if self.subscribe is None:
            return lambda: None
        return self.subscribe(listener)

    def live_verifier(self, principal: Principal, where: RecordFilter) -> LiveVerifier:
        """A verifier that reads live records matching ``where`` back, as ``principal``.

        Raises:
            PolicyDenied: ``principal`` does not hold the auditors role.
        """
        if not self.is_auditor(principal):
            raise PolicyDenied(self._auditors_only(), rule="auditors")
        return LiveVerifier(lambda limit: self.audit_records(principal, where, limit), self._poll)
