"""The approval verbs over SSH (`approvals`, `approve`, `deny`) and how `run` asks for one."""

from __future__ import annotations

import time
from typing import Any

from broker.approvals.asks import ApprovalRefused, Ask
from broker.approvals.core import Request
from broker.approvals.service import ApprovalService
from broker.common.text import escape_controls
from broker.frontdoor.channel import TerminalChannel
from broker.frontdoor.commands import ExecRequest

EX_TEMPFAIL = 75
"""`run --no-wait`: the request is made and pending (sysexits' "try again later")."""


def ask_for(channel: TerminalChannel, request: ExecRequest) -> Ask:
    """How a `run` or `connect` asks for an approval: its justification, request and wait."""
    env: dict[Any, Any] = dict(channel.process.env or {})
    reason = request.option("--reason")
    if reason is None:
        reason = str(env.get("GATEHOUSE_REASON", ""))

    def waiting(pending: Request) -> None:
        channel.write_stderr(
            f"gatehouse: waiting for approval {pending.id} (needs {pending.needed} of "
            f"{', '.join(pending.approvers)})\n".encode()
        )

    return Ask(
        reason=reason,
        request_id=request.option("--request"),
        wait="--no-wait" not in request.flags,
        waiting=waiting,
        gone=channel.process.is_closing,
    )


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def _row(request: Request, now: float) -> str:
    cells = (
        request.id,
        request.requester,
        request.describe(),
        f"{len(request.approved_by)}/{request.needed}",
        _age(now - request.created),
        request.rule,
        request.reason,
    )
    return "\t".join(escape_controls(cell) for cell in cells) + "\n"


async def _grant_verb(
    approvals: ApprovalService, channel: TerminalChannel, request: ExecRequest
) -> int:
    """`grants` lists the grants in force the user may revoke; `revoke ID` ends one now."""
    principal = channel.principal
    if request.verb == "grants":
        now = time.time()
        channel.write(b"ID\tHOLDER\tFOR\tENDS IN\tAPPROVED BY\tRULE\n")
        for grant, asked in await approvals.grants.revocable_by(principal.name, principal.groups):
            cells = (
                grant.request_id,
                grant.user,
                asked.describe(),
                _age(grant.end - now),
                ", ".join(asked.approved_by),
                grant.rule,
            )
            channel.write(("\t".join(escape_controls(c) for c in cells) + "\n").encode())
        return 0
    try:
        grant = await approvals.grants.revoke(
            principal.name,
            principal.groups,
            request.connection,
            request.option("--comment") or "",
        )
    except ApprovalRefused as exc:
        channel.write_stderr(f"gatehouse: {escape_controls(str(exc))}\n".encode())
        return 1
    channel.write(f"{grant.request_id}: revoked; sessions under it are being ended\n".encode())
    return 0


async def approval_verb(
    approvals: ApprovalService, channel: TerminalChannel, request: ExecRequest
) -> int:
    """`approvals` lists what the user may decide; `approve`/`deny` decide one request;
    `grants` and `revoke` list and end grants in force."""
    principal = channel.principal
    if request.verb in ("grants", "revoke"):
        return await _grant_verb(approvals, channel, request)
    if request.verb == "approvals":
        pending = await approvals.pending_for(principal.name, principal.groups)
        now = time.time()
        channel.write(b"ID\tREQUESTER\tFOR\tAPPROVALS\tAGE\tRULE\tJUSTIFICATION\n")
        for item in pending:
            channel.write(_row(item, now).encode())
        return 0
    comment = request.option("--comment") or ""
    try:
        decided = await approvals.decide(
            principal.name,
            principal.groups,
            request.connection,
            approved=request.verb == "approve",
            comment=comment,
        )
    except ApprovalRefused as exc:
        channel.write_stderr(f"gatehouse: {escape_controls(str(exc))}\n".encode())
        return 1
    if decided.status == "pending":
        done = f"{len(decided.approved_by)} of {decided.needed} approvals; still pending"
    else:
        done = decided.status
    channel.write(f"{decided.id}: {done}\n".encode())
    return 0
