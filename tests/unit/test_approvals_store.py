"""The SQLite approvals store: persistence, one decision under races, sweeps reported once."""

from __future__ import annotations

import functools
import multiprocessing
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from broker.approvals.core import ApprovalError, Request, approve, deny, new_request
from broker.approvals.store import ApprovalStore

T0 = 1_000_000.0
APPROVERS = ("approvers",)


def make(request_id: str = "REQ-1", *, needed: int = 1, command: str | None = None) -> Request:
    return new_request(
        request_id,
        requester="alice",
        connection="prod-1",
        command=command,
        reason="INC-42",
        rule="prod",
        approvers=APPROVERS,
        needed=needed,
        grant_seconds=600,
        now=T0,
        ttl=300,
    )


def test_file_is_owner_only_and_in_wal_mode(tmp_path: Path) -> None:
    store = ApprovalStore.in_state_dir(tmp_path)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_requests_and_grants_survive_reopening(tmp_path: Path) -> None:
    store = ApprovalStore.in_state_dir(tmp_path)
    store.create_sync(make("REQ-1"))
    store.create_sync(make("REQ-2"))
    store.update_sync("REQ-2", lambda r: approve(r, "bob", APPROVERS, "ok", T0 + 1), T0 + 1)
    again = ApprovalStore.in_state_dir(tmp_path)
    assert [r.id for r in again.pending_sync(T0 + 2)] == ["REQ-1"]
    got = again.get_sync("REQ-2", T0 + 2)
    assert got is not None
    assert got.status == "approved"
    assert got.votes[0].approver == "bob"
    grant = again.grant_sync("alice", "prod-1", None, T0 + 2)
    assert grant is not None
    assert (grant.request_id, grant.end) == ("REQ-2", T0 + 1 + 600)
    assert again.get_sync("REQ-404", T0) is None


def test_a_refused_step_writes_nothing(tmp_path: Path) -> None:
    store = ApprovalStore.in_state_dir(tmp_path)
    store.create_sync(make())
    with pytest.raises(ApprovalError, match="own request"):
        store.update_sync("REQ-1", lambda r: approve(r, "alice", APPROVERS, "", T0), T0)
    got = store.get_sync("REQ-1", T0)
    assert got is not None
    assert got.status == "pending"
    assert got.votes == ()
    with pytest.raises(KeyError):
        store.update_sync("REQ-404", lambda r: r, T0)


def test_two_approvals_needed_grant_only_after_the_second(tmp_path: Path) -> None:
    store = ApprovalStore.in_state_dir(tmp_path)
    store.create_sync(make(needed=2))
    store.update_sync("REQ-1", lambda r: approve(r, "bob", APPROVERS, "", T0 + 1), T0 + 1)
    assert store.grant_sync("alice", "prod-1", None, T0 + 2) is None
    store.update_sync("REQ-1", lambda r: approve(r, "carol", APPROVERS, "", T0 + 3), T0 + 3)
    assert store.grant_sync("alice", "prod-1", None, T0 + 4) is not None


def test_command_grant_covers_only_its_command(tmp_path: Path) -> None:
    store = ApprovalStore.in_state_dir(tmp_path)
    store.create_sync(make(command="systemctl restart app"))
    store.update_sync("REQ-1", lambda r: approve(r, "bob", APPROVERS, "", T0 + 1), T0 + 1)
    assert store.grant_sync("alice", "prod-1", "systemctl restart app", T0 + 2) is not None
    assert store.grant_sync("alice", "prod-1", "id", T0 + 2) is None
    assert store.grant_sync("alice", "prod-1", None, T0 + 2) is None
    assert store.grant_sync("bob", "prod-1", "systemctl restart app", T0 + 2) is None


def test_sweep_reports_expiry_and_grant_end_exactly_once(tmp_path: Path) -> None:
    store = ApprovalStore.in_state_dir(tmp_path)
    store.create_sync(make("REQ-1"))
    store.create_sync(make("REQ-2"))
    store.update_sync("REQ-2", lambda r: approve(r, "bob", APPROVERS, "", T0 + 1), T0 + 1)
    assert store.sweep_sync(T0 + 10).expired == ()
    first = store.sweep_sync(T0 + 300)
    assert [r.id for r in first.expired] == ["REQ-1"]
    assert first.expired[0].status == "expired"
    assert store.sweep_sync(T0 + 301).expired == ()
    ended = store.sweep_sync(T0 + 601)
    assert [g.request_id for g in ended.ended] == ["REQ-2"]
    assert store.sweep_sync(T0 + 700).ended == ()
    with pytest.raises(ApprovalError, match="expired before it was decided"):
        store.update_sync("REQ-1", lambda r: approve(r, "bob", APPROVERS, "", T0 + 301), T0 + 301)


def _decide(path: str, approver: str, verb: str, barrier: object, out: object) -> None:
    store = ApprovalStore(Path(path))
    barrier.wait()  # type: ignore[attr-defined]
    step = approve if verb == "approve" else deny
    try:
        store.update_sync("REQ-1", lambda r: step(r, approver, APPROVERS, "why", T0 + 1), T0 + 1)
        out.put((approver, "ok"))  # type: ignore[attr-defined]
    except ApprovalError as exc:
        out.put((approver, str(exc)))  # type: ignore[attr-defined]


@pytest.mark.parametrize("round_", range(5))
def test_two_processes_deciding_at_once_yield_one_decision(tmp_path: Path, round_: int) -> None:
    store = ApprovalStore.in_state_dir(tmp_path)
    store.create_sync(make())
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_decide, args=(str(store.path), who, verb, barrier, out))
        for who, verb in (("bob", "approve"), ("carol", "deny"))
    ]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=30) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    winners = [who for who, res in results.items() if res == "ok"]
    assert len(winners) == 1, results
    loser = next(res for who, res in results.items() if who not in winners)
    assert "already" in loser
    final = store.get_sync("REQ-1", T0 + 2)
    assert final is not None
    assert len(final.votes) == 1
    assert final.votes[0].approver == winners[0]
    granted = store.grant_sync("alice", "prod-1", None, T0 + 2) is not None
    assert granted == (final.status == "approved")


def test_threads_approving_at_once_yield_one_vote_each_and_one_grant(tmp_path: Path) -> None:
    store = ApprovalStore.in_state_dir(tmp_path)
    store.create_sync(make(needed=2))
    approvers = [f"approver{i}" for i in range(6)]
    barrier = threading.Barrier(len(approvers))
    results: dict[str, str] = {}

    def go(who: str) -> None:
        barrier.wait()
        try:
            store.update_sync(
                "REQ-1",
                functools.partial(approve, approver=who, groups=APPROVERS, comment="", now=T0 + 1),
                T0 + 1,
            )
            results[who] = "ok"
        except ApprovalError as exc:
            results[who] = str(exc)

    threads = [threading.Thread(target=go, args=(who,)) for who in approvers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results.values()).count("ok") == 2, results
    final = store.get_sync("REQ-1", T0 + 2)
    assert final is not None
    assert final.status == "approved"
    assert len(final.approved_by) == 2
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT count(*) FROM grants").fetchone()[0] == 1


async def test_async_surface_runs_in_threads(tmp_path: Path) -> None:
    store = ApprovalStore.in_state_dir(tmp_path)
    loop_thread = threading.get_ident()
    seen: list[int] = []
    real = store.get_sync

    def spy(request_id: str, now: float) -> Request | None:
        seen.append(threading.get_ident())
        return real(request_id, now)

    store.get_sync = spy  # type: ignore[method-assign]
    await store.create(make())
    got = await store.get("REQ-1", T0)
    assert got is not None
    assert got.id == "REQ-1"
    assert [r.id for r in await store.pending(T0)] == ["REQ-1"]
    assert seen
    assert loop_thread not in seen


def test_a_revoked_grant_covers_nothing_is_reported_once_and_never_swept(tmp_path: Path) -> None:
    store = ApprovalStore.in_state_dir(tmp_path)
    store.create_sync(make("REQ-1"))
    store.update_sync("REQ-1", lambda r: approve(r, "bob", APPROVERS, "ok", T0 + 1), T0 + 1)
    assert [g.request_id for g in store.active_grants_sync(T0 + 2)] == ["REQ-1"]
    assert store.revocation_sync("REQ-1") is None
    grant = store.revoke_sync("REQ-1", "carol", "done", T0 + 10)
    assert grant.end == T0 + 1 + 600  # the grant as it was
    assert store.grant_sync("alice", "prod-1", None, T0 + 11) is None
    assert store.active_grants_sync(T0 + 11) == []
    revocation = store.revocation_sync("REQ-1")
    assert revocation is not None
    assert (revocation.by, revocation.comment, revocation.at) == ("carol", "done", T0 + 10)
    with pytest.raises(KeyError):
        store.revoke_sync("REQ-1", "carol", "again", T0 + 12)
    assert store.sweep_sync(T0 + 10_000).ended == ()  # its end was the revocation's record


def test_an_ended_or_unknown_grant_cannot_be_revoked(tmp_path: Path) -> None:
    store = ApprovalStore.in_state_dir(tmp_path)
    store.create_sync(make("REQ-1"))
    store.update_sync("REQ-1", lambda r: approve(r, "bob", APPROVERS, "ok", T0 + 1), T0 + 1)
    for request_id, at in (("REQ-1", T0 + 1 + 600), ("REQ-404", T0 + 2)):
        with pytest.raises(KeyError):
            store.revoke_sync(request_id, "carol", "late", at)
