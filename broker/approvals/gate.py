"""Where policy meets approvals in a session's life: admitting by grant, holding typed lines."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from typing import Any

from broker.approvals.asks import Ask
from broker.approvals.core import Grant
from broker.approvals.service import MASKED_COMMAND, ApprovalService
from broker.approvals.terms import access_terms, command_terms, held_verdict
from broker.policy.access import Decision
from broker.policy.commands import decide_command
from broker.policy.loader import PolicySet


async def admitting_grant(
    approvals: ApprovalService,
    policies: PolicySet,
    user: str,
    connection: str,
    decision: Decision,
    ask: Ask | None,
) -> Grant | None:
    """The grant that admits ``user`` to ``connection`` (an `approval` decision).

    With ``ask`` the approval is requested and waited for if no grant covers it; without,
    None means there is no grant (the caller refuses).

    Raises:
        ApprovalRequired: as :meth:`ApprovalService.clear` raises it.
    """
    if ask is None and await approvals.grant(user, connection, None) is None:
        return None
    terms = access_terms(policies, decision)
    return await approvals.clear(user, connection, None, terms, ask or Ask(wait=False))


def terminal_judge(
    approvals: ApprovalService,
    policies: PolicySet,
    spawn: Callable[[Coroutine[Any, Any, None]], None],
    user: str,
    groups: Sequence[str],
    connection: str,
) -> Callable[[str], Decision]:
    """The command rules for lines typed in a terminal session (input-layer only).

    A line an approval rule holds is not run: a request is made for it (in the background)
    and the refusal names it, to be run with ``run --request`` once approved.
    """

    def judge(line: str) -> Decision:
        verdict = decide_command(
            policies.commands,
            groups,
            connection,
            line,
            policies.interpreters,
            strict=False,  # a terminal line may be input to any program: input-layer only
        )
        if verdict.action != "approval":
            return verdict
        if approvals.carries_masked(line):  # never stored: refused, not held
            return replace(verdict, reason=MASKED_COMMAND)
        held = approvals.hold(user, connection, line, command_terms(policies, verdict.rule))
        spawn(approvals.store_held(held))
        return held_verdict(verdict, held, connection)

    return judge
