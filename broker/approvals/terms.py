"""What policy asks of an approval: the terms of the deciding rule, and who approves at all."""

from __future__ import annotations

from broker.approvals.service import Terms
from broker.policy.access import Decision
from broker.policy.commands import CommandRule
from broker.policy.loader import DEFAULT_APPROVERS, PolicySet


def access_terms(decision: Decision) -> Terms:
    """The terms of an access decision whose action is `approval`."""
    return Terms(
        decision.rule,
        decision.approvers or DEFAULT_APPROVERS,
        max(1, decision.approvals),
        max(1, decision.grant_seconds),
        decision.reason_required,
    )


def command_terms(policies: PolicySet, rule_name: str) -> Terms:
    """The terms of the command rule ``rule_name`` (the defaults if it is not found)."""
    rule = next(
        (r for r in policies.commands if r.name == rule_name),
        CommandRule(rule_name, None, "approval"),
    )
    return Terms(
        rule.name, rule.approvers, rule.approvals, rule.grant_seconds, rule.reason_required
    )


def approver_groups(policies: PolicySet) -> frozenset[str]:
    """Every group that some `approval` rule lets decide."""
    groups = {g for r in policies.access if r.action == "approval" for g in r.approvers}
    groups |= {g for r in policies.commands if r.action == "approval" for g in r.approvers}
    return frozenset(groups)
