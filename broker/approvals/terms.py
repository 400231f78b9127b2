"""What policy asks of an approval: the terms of the deciding rule, and who approves at all."""

from __future__ import annotations

from dataclasses import replace

from broker.approvals.asks import Terms
from broker.approvals.core import Request
from broker.policy.access import Decision
from broker.policy.commands import CommandRule
from broker.policy.loader import PolicySet
from broker.policy.sql import SqlRule


def access_terms(policies: PolicySet, decision: Decision) -> Terms:
    """The terms of an access decision whose action is `approval`.

    A rule that names no approvers is decided by the groups of the `approvers` role.
    """
    return Terms(
        decision.rule,
        decision.approvers or policies.roles.approvers,
        max(1, decision.approvals),
        max(1, decision.grant_seconds),
        decision.reason_required,
        decision.until,
    )


def command_terms(policies: PolicySet, rule_name: str) -> Terms:
    """The terms of the command rule ``rule_name`` (the defaults if it is not found)."""
    rule = next(
        (r for r in policies.commands if r.name == rule_name),
        CommandRule(rule_name, None, "approval"),
    )
    return Terms(
        rule.name,
        rule.approvers or policies.roles.approvers,
        rule.approvals,
        rule.grant_seconds,
        rule.reason_required,
    )


def sql_terms(policies: PolicySet, rule_name: str) -> Terms:
    """The terms of the SQL rule ``rule_name`` (the defaults if it is not found)."""
    rule = next(
        (r for r in policies.sql if r.name == rule_name),
        SqlRule(rule_name, frozenset({"*"}), "approval"),
    )
    return Terms(
        rule.name,
        rule.approvers or policies.roles.approvers,
        rule.approvals,
        rule.grant_seconds,
        rule.reason_required,
    )


def approver_groups(policies: PolicySet) -> frozenset[str]:
    """The `approvers` role's groups and every group an `approval` rule names as approvers."""
    rules = [
        *(r.approvers for r in policies.access if r.action == "approval"),
        *(r.approvers for r in policies.commands if r.action == "approval"),
        *(r.approvers for r in policies.sql if r.action == "approval"),
    ]
    return frozenset(g for named in rules for g in named) | set(policies.roles.approvers)


def held_verdict(verdict: Decision, held: Request, connection: str) -> Decision:
    """The refusal of a command line held for approval, naming the request and how to run it."""
    return replace(
        verdict,
        reason=f"held as {held.id}, needs {held.needed} of {', '.join(held.approvers)}; "
        f"once approved, run it with: run --request {held.id} {connection} -- <the same line>",
    )
