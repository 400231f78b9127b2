"""The approval state machine: every transition, expiry on an injected clock, refusals."""

from __future__ import annotations

from dataclasses import replace

import pytest

from broker.approvals.core import (
    DEFAULT_APPROVERS,
    ApprovalError,
    Request,
    approve,
    cancel,
    deny,
    grant_for,
    may_decide,
    new_request,
    refresh,
)

T0 = 1_000_000.0
APPROVERS = ("approvers",)


def request(needed: int = 1, **kw: object) -> Request:
    args: dict[str, object] = {
        "requester": "alice",
        "connection": "prod-1",
        "command": None,
        "reason": "INC-42 disk full",
        "rule": "prod-needs-approval",
        "approvers": ("approvers",),
        "needed": needed,
        "grant_seconds": 3600,
        "now": T0,
        "ttl": 600,
    }
    args.update(kw)
    return new_request("REQ-1", **args)  # type: ignore[arg-type]


def test_new_request_is_pending_with_the_rules_terms() -> None:
    req = request(needed=2)
    assert req.status == "pending"
    assert (req.needed, req.grant_seconds, req.expires) == (2, 3600, T0 + 600)
    assert req.votes == ()
    assert req.closed_at is None
    assert req.describe() == "prod-1"


def test_reason_is_required_by_default() -> None:
    with pytest.raises(ApprovalError, match="justification"):
        request(reason="   ")


def test_reason_may_be_optional() -> None:
    assert request(reason="", reason_required=False).reason == ""


def test_reason_is_cut_to_a_bound() -> None:
    assert len(request(reason="x" * 5000).reason) == 1000


def test_no_approver_groups_means_the_approvers_role() -> None:
    assert request(approvers=()).approvers == DEFAULT_APPROVERS


@pytest.mark.parametrize(("needed", "grant"), [(0, 60), (1, 0), (-1, 60)])
def test_malformed_terms_are_refused(needed: int, grant: int) -> None:
    with pytest.raises(ApprovalError):
        request(needed=needed, grant_seconds=grant)


def test_one_approval_approves() -> None:
    req = approve(request(), "bob", APPROVERS, "ok", T0 + 5)
    assert req.status == "approved"
    assert req.closed_at == T0 + 5
    assert req.approved_by == ("bob",)
    assert req.votes[0].comment == "ok"


def test_two_approvals_needed_stays_pending_after_one() -> None:
    req = approve(request(needed=2), "bob", APPROVERS, "", T0 + 1)
    assert req.status == "pending"
    req = approve(req, "carol", APPROVERS, "fine", T0 + 2)
    assert req.status == "approved"
    assert req.approved_by == ("bob", "carol")


def test_a_person_counts_once() -> None:
    req = approve(request(needed=2), "bob", APPROVERS, "", T0 + 1)
    with pytest.raises(ApprovalError, match="already decided"):
        approve(req, "bob", APPROVERS, "again", T0 + 2)
    with pytest.raises(ApprovalError, match="already decided"):
        deny(req, "bob", APPROVERS, "changed my mind", T0 + 2)


def test_self_approval_is_refused_even_for_an_approver() -> None:
    with pytest.raises(ApprovalError, match="your own request"):
        approve(request(), "alice", ("approvers",), "", T0 + 1)
    with pytest.raises(ApprovalError, match="your own request"):
        deny(request(), "alice", ("approvers",), "no", T0 + 1)
    assert not may_decide(request(), "alice", ("approvers",))


def test_someone_outside_the_approver_groups_cannot_decide() -> None:
    with pytest.raises(ApprovalError, match="only members of approvers"):
        approve(request(), "mallory", ("engineers",), "", T0 + 1)
    with pytest.raises(ApprovalError, match="only members"):
        deny(request(), "mallory", ("engineers",), "no", T0 + 1)
    assert not may_decide(request(), "mallory", ("engineers",))
    assert may_decide(request(), "bob", ("engineers", "approvers"))


def test_deny_is_final_at_once_and_keeps_the_reason() -> None:
    req = approve(request(needed=2), "bob", APPROVERS, "", T0 + 1)
    req = deny(req, "carol", APPROVERS, "  not during the freeze ", T0 + 2)
    assert req.status == "denied"
    assert req.final_comment == "not during the freeze"
    assert req.closed_at == T0 + 2


def test_deny_needs_a_comment() -> None:
    with pytest.raises(ApprovalError, match="needs a comment"):
        deny(request(), "bob", APPROVERS, "  ", T0 + 1)


def test_cancel_by_requester() -> None:
    req = cancel(request(), "alice", T0 + 3)
    assert (req.status, req.closed_at) == ("cancelled", T0 + 3)


def test_cancel_by_someone_else_is_refused() -> None:
    with pytest.raises(ApprovalError, match="only alice"):
        cancel(request(), "bob", T0 + 3)


def test_pending_request_expires_on_the_clock() -> None:
    req = request()
    assert refresh(req, T0 + 599).status == "pending"
    late = refresh(req, T0 + 600)
    assert (late.status, late.closed_at) == ("expired", T0 + 600)


def _approved() -> Request:
    return approve(request(), "bob", APPROVERS, "", T0 + 1)


def _denied() -> Request:
    return deny(request(), "bob", APPROVERS, "no", T0 + 1)


def _cancelled() -> Request:
    return cancel(request(), "alice", T0 + 1)


def _expired() -> Request:
    return refresh(request(), T0 + 600)


CLOSED = [_approved, _denied, _cancelled, _expired]


@pytest.mark.parametrize("closed", CLOSED, ids=lambda f: f.__name__)
def test_a_closed_request_cannot_be_decided_or_cancelled_again(closed: object) -> None:
    req = closed()  # type: ignore[operator]
    with pytest.raises(ApprovalError, match=r"already|expired before it was decided"):
        approve(req, "carol", APPROVERS, "", T0 + 2)
    with pytest.raises(ApprovalError, match=r"already|expired before it was decided"):
        deny(req, "carol", APPROVERS, "no", T0 + 2)
    with pytest.raises(ApprovalError, match="already"):
        cancel(req, "alice", T0 + 2)


def test_deciding_after_expiry_is_refused_even_if_stored_as_pending() -> None:
    with pytest.raises(ApprovalError, match="expired before it was decided; nothing is granted"):
        approve(request(), "bob", APPROVERS, "", T0 + 601)
    with pytest.raises(ApprovalError, match="expired before it was decided"):
        deny(request(), "bob", APPROVERS, "too late", T0 + 600)


def test_a_request_expires_when_its_rules_time_window_closes_if_that_is_sooner() -> None:
    req = request(until=T0 + 120)
    assert (req.expires, req.window_closes) == (T0 + 120, True)
    assert refresh(req, T0 + 119).status == "pending"
    late = refresh(req, T0 + 120)
    assert (late.status, late.closed_at) == ("expired", T0 + 120)
    with pytest.raises(ApprovalError, match="expired before it was decided"):
        approve(req, "bob", APPROVERS, "", T0 + 121)


def test_a_window_closing_after_the_lifetime_leaves_the_lifetime() -> None:
    req = request(until=T0 + 10_000)
    assert (req.expires, req.window_closes) == (T0 + 600, False)


def test_a_request_cannot_be_made_once_the_window_has_closed() -> None:
    with pytest.raises(ApprovalError, match="time window has closed"):
        request(until=T0)


def test_expiry_is_final_for_a_vote_in_progress() -> None:
    half = approve(request(needed=2), "bob", APPROVERS, "ok", T0 + 1)
    late = refresh(half, T0 + 600)
    assert (late.status, late.approved_by) == ("expired", ("bob",))
    with pytest.raises(ApprovalError, match="expired before it was decided"):
        approve(half, "carol", APPROVERS, "", T0 + 600)
    with pytest.raises(ApprovalError, match="already expired"):
        cancel(half, "alice", T0 + 600)


def test_expiry_does_not_touch_a_closed_request() -> None:
    req = _approved()
    assert refresh(req, T0 + 10_000) is req


def test_grant_of_a_connection_request_covers_sessions_for_its_duration() -> None:
    grant = grant_for(_approved())
    assert (grant.start, grant.end) == (T0 + 1, T0 + 1 + 3600)
    assert grant.covers("alice", "prod-1", None, T0 + 2)
    # access to the connection is no approval of a command a command rule holds
    assert not grant.covers("alice", "prod-1", "uptime", T0 + 2)
    assert not grant.covers("alice", "prod-1", None, T0 + 1 + 3600)
    assert not grant.covers("bob", "prod-1", None, T0 + 2)
    assert not grant.covers("alice", "prod-2", None, T0 + 2)
    assert not grant.covers("alice", "prod-1", None, T0)


def test_grant_of_a_command_request_covers_exactly_that_command() -> None:
    req = approve(request(command="systemctl restart app"), "bob", APPROVERS, "", T0 + 1)
    grant = grant_for(req)
    assert grant.covers("alice", "prod-1", "systemctl restart app", T0 + 2)
    assert not grant.covers("alice", "prod-1", "systemctl restart app; id", T0 + 2)
    assert not grant.covers("alice", "prod-1", None, T0 + 2)


@pytest.mark.parametrize("closed", [_denied, _cancelled, _expired, request], ids=str)
def test_only_an_approved_request_grants(closed: object) -> None:
    with pytest.raises(ApprovalError):
        grant_for(closed())  # type: ignore[operator]


def test_values_are_frozen() -> None:
    req = request()
    with pytest.raises(AttributeError):
        req.status = "approved"  # type: ignore[misc]
    assert replace(req, reason="x").reason == "x"
