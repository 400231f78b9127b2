"""The approvals service: ask, wait, decide and sweep against a real store, every step audited."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from broker.approvals.asks import ApprovalPending, ApprovalRefused, Ask, Terms
from broker.approvals.core import Request, approve
from broker.approvals.service import ApprovalService
from broker.common.errors import ApprovalRequired

TERMS = Terms(rule="prod", approvers=("approvers",), needed=1, grant_seconds=600)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Events:
    def __init__(self) -> None:
        self.records: list[tuple[str, str, str, dict[str, Any]]] = []

    async def emit(self, actor: str, action: str, target: str, details: Mapping[str, Any]) -> None:
        self.records.append((actor, str(action), target, dict(details)))

    def actions(self) -> list[str]:
        return [r[1] for r in self.records]


@pytest.fixture
def env(tmp_path: Path) -> tuple[ApprovalService, Events, Clock]:
    events, clock = Events(), Clock()
    return ApprovalService(tmp_path, events.emit, clock=clock, poll=0.01), events, clock


async def ask_and_wait(service: ApprovalService, **ask: Any) -> tuple[asyncio.Task[Any], Request]:
    """Start a waiting `clear` and return it with the request once it is pending."""
    pending: asyncio.Future[Request] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        service.clear(
            "alice", "prod-1", None, TERMS, Ask(reason="INC-1", waiting=pending.set_result, **ask)
        )
    )
    request = await asyncio.wait_for(asyncio.shield(pending), 10)
    return task, request


async def test_waiting_requester_gets_the_grant_when_approved(env: Any) -> None:
    service, events, _ = env
    task, request = await ask_and_wait(service)
    assert request.status == "pending"
    assert [r.id for r in await service.pending_for("bob", ("approvers",))] == [request.id]
    await service.decide("bob", ("approvers",), request.id, approved=True, comment="go")
    grant = await asyncio.wait_for(task, 10)
    assert grant.request_id == request.id
    assert events.actions() == [
        "approval.requested",
        "approval.approved",
        "grant.created",
        "grant.used",
    ]
    approved = events.records[1]
    assert approved[0] == "bob"
    assert approved[3]["comment"] == "go"
    assert approved[3]["justification"] == "INC-1"


async def test_denial_reaches_the_requester_with_the_reason(env: Any) -> None:
    service, events, _ = env
    task, request = await ask_and_wait(service)
    await service.decide("bob", ("approvers",), request.id, approved=False, comment="freeze")
    with pytest.raises(ApprovalRefused, match=f"{request.id} was denied by bob: freeze"):
        await asyncio.wait_for(task, 10)
    assert "approval.denied" in events.actions()
    assert "grant.created" not in events.actions()


async def test_no_wait_raises_pending_then_a_later_session_uses_the_grant(env: Any) -> None:
    service, events, _ = env
    with pytest.raises(ApprovalPending) as info:
        await service.clear("alice", "prod-1", None, TERMS, Ask(reason="x", wait=False))
    request_id = info.value.request.id
    assert request_id.startswith("REQ-")
    await service.decide("bob", ("approvers",), request_id, approved=True, comment="")
    grant = await service.clear("alice", "prod-1", None, TERMS, Ask(wait=False))
    assert grant.request_id == request_id
    assert events.actions().count("approval.requested") == 1


async def test_grant_expires_on_the_clock_and_its_end_is_audited_once(env: Any) -> None:
    service, events, clock = env
    with pytest.raises(ApprovalPending) as info:
        await service.clear("alice", "prod-1", None, TERMS, Ask(reason="x", wait=False))
    await service.decide("bob", ("approvers",), info.value.request.id, approved=True, comment="")
    clock.now += 601
    assert await service.grant("alice", "prod-1", None) is None
    await service.sweep(force=True)
    await service.sweep(force=True)
    assert events.actions().count("grant.expired") == 1
    with pytest.raises(ApprovalPending):
        await service.clear("alice", "prod-1", None, TERMS, Ask(reason="again", wait=False))


async def test_two_approvals_needed_votes_then_approves(env: Any) -> None:
    service, events, _ = env
    terms = Terms(rule="prod", approvers=("approvers",), needed=2, grant_seconds=60)
    request = await service.request("alice", "prod-1", None, terms, "x")
    first = await service.decide("bob", ("approvers",), request.id, approved=True, comment="")
    assert first.status == "pending"
    with pytest.raises(ApprovalRefused, match="already decided"):
        await service.decide("bob", ("approvers",), request.id, approved=True, comment="")
    second = await service.decide("carol", ("approvers",), request.id, approved=True, comment="")
    assert second.status == "approved"
    assert events.actions()[1:] == ["approval.voted", "approval.approved", "grant.created"]


async def test_refusals(env: Any) -> None:
    service, _, _ = env
    request = await service.request("alice", "prod-1", None, TERMS, "x")
    with pytest.raises(ApprovalRefused, match="your own"):
        await service.decide("alice", ("approvers",), request.id, approved=True, comment="")
    with pytest.raises(ApprovalRefused, match="only members"):
        await service.decide("eve", ("engineers",), request.id, approved=True, comment="")
    with pytest.raises(ApprovalRefused, match="needs a comment"):
        await service.decide("bob", ("approvers",), request.id, approved=False, comment="")
    with pytest.raises(ApprovalRefused, match="no request"):
        await service.decide("bob", ("approvers",), "REQ-NOPE", approved=True, comment="")
    with pytest.raises(ApprovalRequired, match="justification"):
        await service.request("alice", "prod-1", None, TERMS, "")
    assert await service.pending_for("alice", ("approvers",)) == []
    assert await service.pending_for("eve", ("engineers",)) == []


async def test_requester_who_leaves_cancels_the_request(env: Any) -> None:
    service, events, _ = env
    with pytest.raises(ApprovalRefused, match="cancelled"):
        await asyncio.wait_for(
            service.clear("alice", "prod-1", None, TERMS, Ask(reason="x", gone=lambda: True)), 10
        )
    assert events.actions()[-1] == "approval.cancelled"
    assert await service.pending_for("bob", ("approvers",)) == []


async def test_pending_request_expires_and_the_waiter_is_told(env: Any) -> None:
    service, events, clock = env
    task, _ = await ask_and_wait(service)
    clock.now += 25 * 3600
    with pytest.raises(ApprovalRefused, match="expired"):
        await asyncio.wait_for(task, 10)
    assert events.actions().count("approval.expired") == 1


async def test_request_id_names_exactly_one_command(env: Any) -> None:
    service, _, _ = env
    terms = Terms(rule="restart", approvers=("approvers",), needed=1, grant_seconds=60)
    request = await service.request("alice", "prod-1", "systemctl restart app", terms, "x")
    ok = await service.check_request("alice", "prod-1", "systemctl restart app", request.id)
    assert ok.id == request.id
    with pytest.raises(ApprovalRefused, match="exactly"):
        await service.check_request("alice", "prod-1", "systemctl restart app; id", request.id)
    with pytest.raises(ApprovalRefused, match="not 'prod-2'"):
        await service.check_request("alice", "prod-2", "systemctl restart app", request.id)
    with pytest.raises(ApprovalRefused, match="of yours"):
        await service.check_request("mallory", "prod-1", "systemctl restart app", request.id)
    await service.decide("bob", ("approvers",), request.id, approved=True, comment="")
    grant = await service.clear(
        "alice", "prod-1", "systemctl restart app", terms, Ask(request_id=request.id, wait=False)
    )
    assert grant.command == "systemctl restart app"


async def test_a_decision_overtaken_by_another_is_withdrawn_and_retried(env: Any) -> None:
    """Audit first: carol's vote is recorded, bob's lands in between, carol's is discarded
    and decided again on the request as it now stands."""
    service, events, _ = env
    terms = Terms(rule="prod", approvers=("approvers",), needed=2, grant_seconds=60)
    request = await service.request("alice", "prod-1", None, terms, "x")
    store = await service.store()
    real_get = store.get
    raced = False

    async def get_then_bob_votes(request_id: str, now: float) -> Request | None:
        nonlocal raced
        seen = await real_get(request_id, now)
        if not raced:
            raced = True
            store.update_sync(request_id, lambda r: approve(r, "bob", ("approvers",), "", now), now)
        return seen

    store.get = get_then_bob_votes  # type: ignore[method-assign]
    decided = await service.decide("carol", ("approvers",), request.id, approved=True, comment="ok")
    assert decided.status == "approved"
    assert decided.approved_by == ("bob", "carol")
    assert events.actions()[1:] == [
        "approval.voted",
        "approval.discarded",
        "approval.approved",
        "grant.created",
    ]
    assert await service.grant("alice", "prod-1", None) is not None


async def test_pending_requests_per_user_are_bounded(env: Any) -> None:
    service, events, _ = env
    for _ in range(20):
        await service.request("alice", "prod-1", None, TERMS, "x")
    with pytest.raises(ApprovalRequired, match="20 requests pending already"):
        await service.request("alice", "prod-1", None, TERMS, "x")
    assert events.actions().count("approval.requested") == 20
    await service.request("dave", "prod-1", None, TERMS, "x")  # others are not held back


async def test_history_shows_closed_requests_to_their_approver_groups(env: Any) -> None:
    service, _, _ = env
    one = await service.request("alice", "prod-1", None, TERMS, "x")
    await service.request("alice", "prod-2", None, TERMS, "y")
    await service.decide("bob", ("approvers",), one.id, approved=False, comment="no")
    assert [r.id for r in await service.history_for("carol", ("approvers",))] == [one.id]
    assert [r.id for r in await service.history_for("alice", ("engineers",))] == [one.id]
    assert await service.history_for("eve", ("engineers",)) == []


async def test_one_process_shares_its_read_of_the_pending_requests(env: Any) -> None:
    service, _, _ = env
    store = await service.store()
    reads = 0
    real = store.pending

    async def counting(now: float) -> list[Request]:
        nonlocal reads
        reads += 1
        return await real(now)

    store.pending = counting  # type: ignore[method-assign]
    await service.request("alice", "prod-1", None, TERMS, "x")
    for _ in range(20):  # twenty approvers' badges at once: one read
        assert len(await service.pending_for("bob", ("approvers",))) == 1
    assert reads == 1
    await service.request("dave", "prod-1", None, TERMS, "y")  # a change here is seen at once
    assert len(await service.pending_for("bob", ("approvers",))) == 2
    assert reads == 2


async def test_a_held_terminal_line_becomes_a_request_without_a_justification(env: Any) -> None:
    service, events, _ = env
    held = service.hold("alice", "prod-1", "systemctl restart app", TERMS)
    assert held.status == "pending"
    assert held.reason == ""
    await service.store_held(held)
    assert [r.id for r in await service.pending_for("bob", ("approvers",))] == [held.id]
    record = events.records[-1]
    assert record[1] == "approval.requested"
    assert record[3]["held"] == "terminal"
    assert record[3]["command"] == "systemctl restart app"
    await service.decide("bob", ("approvers",), held.id, approved=True, comment="")
    ok = await service.check_request("alice", "prod-1", "systemctl restart app", held.id)
    assert ok.status == "approved"


async def test_a_cancelled_wait_cancels_the_request_and_the_badge_drops(env: Any) -> None:
    """The TUI closing (its worker cancelled) while waiting leaves no request pending."""
    service, events, _ = env
    task, request = await ask_and_wait(service)
    assert [r.id for r in await service.pending_for("bob", ("approvers",))] == [request.id]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stored = await service.get(request.id)
    assert stored is not None
    assert stored.status == "cancelled"
    cancelled = [r for r in events.records if r[1] == "approval.cancelled"]
    assert cancelled[-1][3]["why"] == "requester left"
    assert await service.pending_for("bob", ("approvers",)) == []


async def test_a_wait_cancelled_by_shutdown_keeps_the_request(env: Any) -> None:
    service, events, _ = env
    task, request = await ask_and_wait(service)
    service.stopping = True
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stored = await service.get(request.id)
    assert stored is not None
    assert stored.status == "pending"
    assert "approval.cancelled" not in events.actions()


async def test_justification_and_comment_are_masked_before_store_audit_and_webhook(
    tmp_path: Path,
) -> None:
    events, told = Events(), []
    card = "4111 1111 1111 1111"

    def mask(text: str) -> str:
        return text.replace(card, "[card]")

    service = ApprovalService(tmp_path, events.emit, notify=told.append, mask=mask, poll=0.01)
    request = await service.request("alice", "prod-1", None, TERMS, f"pay {card} \x1b[2J")
    decided = await service.decide(
        "bob", ("approvers",), request.id, approved=False, comment=f"not {card}"
    )
    assert decided.reason == "pay [card] \x1b[2J"
    assert decided.final_comment == "not [card]"
    raw = (tmp_path / "approvals.sqlite3").read_bytes()
    raw += b"".join(p.read_bytes() for p in tmp_path.glob("approvals.sqlite3-*"))
    assert card.encode() not in raw
    assert card not in repr(events.records)
    assert told
    assert not any(card in t for t in told)


async def test_revocation_by_an_approver_or_the_holder_only_with_a_comment(env: Any) -> None:
    service, events, _ = env
    request = await service.request("alice", "prod-1", None, TERMS, "INC-1")
    await service.decide("bob", ("approvers",), request.id, approved=True, comment="ok")
    assert [g.request_id for g, _ in await service.grants.revocable_by("bob", ("approvers",))] == [
        request.id
    ]
    assert [g for g, _ in await service.grants.revocable_by("eve", ("engineers",))] == []
    with pytest.raises(ApprovalRefused, match="that you may revoke"):
        await service.grants.revoke("eve", ("engineers",), request.id, "mine now")
    with pytest.raises(ApprovalRefused, match="needs a comment"):
        await service.grants.revoke("bob", ("approvers",), request.id, "  ")
    assert await service.grants.revoked(request.id) is None
    await service.grants.revoke("alice", ("engineers",), request.id, "done early")
    assert (
        await service.grants.revoked(request.id) == f"{request.id} was revoked by alice: done early"
    )
    assert await service.grant("alice", "prod-1", None) is None
    actor, action, target, details = events.records[-1]
    assert (actor, action, target) == ("alice", "grant.revoked", "prod-1")
    assert details["holder"] == "alice"
    assert details["comment"] == "done early"


async def test_a_command_holding_a_masked_value_is_never_made_into_a_request(
    tmp_path: Path,
) -> None:
    events = Events()
    card = "4111 1111 1111 1111"
    service = ApprovalService(
        tmp_path, events.emit, mask=lambda text: text.replace(card, "[card]"), poll=0.01
    )
    with pytest.raises(ApprovalRequired, match="holds a value the broker masks"):
        await service.request("alice", "prod-1", f"charge {card}", TERMS, "INC-1")
    assert service.carries_masked(f"charge {card}")
    assert not service.carries_masked("charge 10")
    assert events.records == []
    assert await service.pending_for("bob", ("approvers",)) == []


async def test_a_typed_line_holding_a_masked_value_is_refused_not_held(tmp_path: Path) -> None:
    from broker.approvals.gate import terminal_judge
    from broker.policy.commands import CommandRule
    from broker.policy.loader import PolicySet

    card = "4111 1111 1111 1111"
    service = ApprovalService(
        tmp_path, Events().emit, mask=lambda text: text.replace(card, "[card]"), poll=0.01
    )
    policies = PolicySet(commands=(CommandRule("charge", re.compile("charge"), "approval"),))
    spawned: list[Any] = []
    judge = terminal_judge(service, policies, spawned.append, "alice", ("eng",), "prod-1")
    verdict = judge(f"charge {card}")
    assert verdict.action == "approval"
    assert "holds a value the broker masks" in verdict.reason
    assert spawned == []  # nothing stored
    held = judge("charge 10")
    assert "held as REQ-" in held.reason
    assert len(spawned) == 1
    await spawned[0]


async def test_a_change_made_by_another_process_wakes_the_watchers(env: Any) -> None:
    """The badge and the queue wait on changes(); another process writes the same file."""
    from broker.approvals.store import ApprovalStore

    service, _, _ = env
    seen = await service.changes(-1)
    waiting = asyncio.ensure_future(service.changes(seen))
    await asyncio.sleep(0)
    assert not waiting.done()
    elsewhere = ApprovalStore.in_state_dir(service._state_dir)  # as another worker would
    other = await service.request("carol", "prod-2", None, TERMS, "x")  # creates the file
    assert await asyncio.wait_for(waiting, 5) > seen  # told at once (this process)
    seen = await service.changes(-1)
    waiting = asyncio.ensure_future(service.changes(seen))
    await asyncio.sleep(0)
    held = service.hold("dave", "prod-3", "ls", TERMS)
    await asyncio.to_thread(elsewhere.create_sync, held)
    assert await asyncio.wait_for(waiting, 5) > seen  # seen on the file
    ids = [r.id for r in await service.pending_for("bob", ("approvers",))]
    assert sorted(ids) == sorted([other.id, held.id])


async def test_the_timer_expires_a_request_nobody_looks_at(tmp_path: Path) -> None:
    events, clock = Events(), Clock()
    service = ApprovalService(tmp_path, events.emit, clock=clock, expire_after=30)
    request = await service.request("alice", "prod-1", None, TERMS, "INC-1")
    assert request.expires == clock.now + 30
    timer = asyncio.create_task(service.sweeper())
    try:
        seen = await service.changes(-1)
        clock.now += 31
        while "approval.expired" not in events.actions():  # the timer's sweep wakes the watch
            seen = await asyncio.wait_for(service.changes(seen), 10)
    finally:
        timer.cancel()
    assert events.actions().count("approval.expired") == 1
    record = events.records[events.actions().index("approval.expired")]
    assert record[3]["request"] == request.id
    assert record[3]["why"] == "not decided in time"
    assert await service.pending_for("bob", ("approvers",)) == []
    [closed] = await service.history_for("bob", ("approvers",))
    assert (closed.id, closed.status) == (request.id, "expired")


async def test_a_request_expires_when_the_rules_window_closes(env: Any) -> None:
    service, events, clock = env
    terms = Terms("office-hours", ("approvers",), 1, 600, until=clock.now + 60)
    request = await service.request("alice", "prod-1", None, terms, "INC-1")
    assert (request.expires, request.window_closes) == (clock.now + 60, True)
    clock.now += 60
    await service.sweep(force=True)
    [record] = [r for r in events.records if r[1] == "approval.expired"]
    assert record[3]["why"] == "time window closed"
    with pytest.raises(ApprovalRefused, match="time window of rule 'office-hours' closed"):
        await service.clear("alice", "prod-1", None, terms, Ask(request_id=request.id))


async def test_approving_after_expiry_is_refused_and_grants_nothing(env: Any) -> None:
    service, events, clock = env
    request = await service.request("alice", "prod-1", None, TERMS, "INC-1")
    clock.now += 25 * 3600  # not swept yet: still stored as pending
    with pytest.raises(ApprovalRefused, match="expired before it was decided; nothing is granted"):
        await service.decide("bob", ("approvers",), request.id, approved=True, comment="ok")
    assert "approval.approved" not in events.actions()
    assert "grant.created" not in events.actions()
    assert await service.grant("alice", "prod-1", None) is None
    assert (await service.get(request.id)).status == "expired"  # type: ignore[union-attr]


async def test_a_restarted_broker_expires_at_startup_what_expired_while_it_was_down(
    tmp_path: Path,
) -> None:
    events, clock = Events(), Clock()
    before = ApprovalService(tmp_path, events.emit, clock=clock, expire_after=60)
    request = await before.request("alice", "prod-1", None, TERMS, "INC-1")
    clock.now += 3600  # the broker was down meanwhile
    after = ApprovalService(tmp_path, events.emit, clock=clock, expire_after=60)
    await after.sweep(force=True)  # what run_broker does before it listens
    assert events.actions().count("approval.expired") == 1
    stored = await (await after.store()).get(request.id, 0.0)  # as stored, not as computed
    assert stored is not None
    assert stored.status == "expired"
