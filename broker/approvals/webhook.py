"""Slack-compatible webhook notices of new requests and decisions (retried, never blocking)."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from collections.abc import Callable

from broker.approvals.core import Request

log = logging.getLogger(__name__)

TIMEOUT = 5.0
"""Seconds one POST may take."""
RETRIES = (0.5, 2.0, 8.0)
"""Pauses before the second, third and fourth attempt."""

Spawn = Callable[..., None]
"""Runs background work: called with a coroutine and ``essential=False``."""


def _slack_escape(text: str) -> str:
    """Slack reads ``<…>`` as links and ``&`` entities: escape them (text is data)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def describe_request(request: Request) -> str:
    """The notice of a new request."""
    return _slack_escape(
        f"Approval requested: {request.id} by {request.requester} for {request.describe()} "
        f"(rule {request.rule}; needs {request.needed} of {', '.join(request.approvers)}). "
        f"Justification: {request.reason or '(none)'}"
    )


def describe_decision(request: Request) -> str:
    """The notice of a decision (a vote, an approval or a denial)."""
    vote = request.votes[-1]
    verb = "approved" if vote.approve else "denied"
    state = f"{request.status} ({len(request.approved_by)}/{request.needed})"
    comment = f": {vote.comment}" if vote.comment else ""
    return _slack_escape(f"{request.id} {verb} by {vote.approver}{comment}; now {state}")


class Webhook:
    """POSTs ``{"text": …}`` to one URL in the background; failures are retried, then logged."""

    def __init__(self, url: str, spawn: Spawn) -> None:
        self.url = url
        self._spawn = spawn

    def notify(self, text: str) -> None:
        """Queue a notice; returns at once (the broker does not wait for it at shutdown)."""
        self._spawn(self._deliver(text), essential=False)

    async def _deliver(self, text: str) -> None:
        body = json.dumps({"text": text}).encode()
        for attempt, pause in enumerate((0.0, *RETRIES)):
            if pause:
                await asyncio.sleep(pause)
            try:
                await asyncio.to_thread(self._post, body)
                return
            except OSError as exc:  # URLError and HTTPError are OSErrors
                log.warning("approvals webhook: attempt %d failed: %s", attempt + 1, exc)
        log.error("approvals webhook: notice dropped after %d attempts", len(RETRIES) + 1)

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(  # noqa: S310 (http/https only: checked at config load)
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            response.read()


def webhook_notify(url: str, spawn: Spawn) -> Callable[[str], None] | None:
    """The approvals service's ``notify`` for a configured ``url`` (None: no webhook)."""
    return Webhook(url, spawn).notify if url else None
