"""Time windows through the facade: outside, denied naming the rule; inside, the session ends
when the window closes (or the grant, whichever is first)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from broker.common.errors import PolicyDenied
from broker.config.load import load_all
from broker.config.state import StatePaths
from broker.frontdoor.channel import Principal
from broker.runtime.provision import ensure_keys
from broker.services import LogEvents, Services
from tests.harness.accounts import ensure_local_account

MONDAY_9 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp()
MONDAY_18 = datetime(2026, 12, 7, 18, 0, tzinfo=UTC).timestamp()
ALICE = Principal("alice", ("eng",), client_addr="127.0.0.1:5000")


def services(tmp_path: Path) -> tuple[Services, LogEvents]:
    (tmp_path / "p.yaml").write_text(
        "access:\n"
        "  - {name: office, groups: [eng], connections: [box], action: allow,\n"
        "     windows: [{days: mon-fri, hours: '08:00-18:00'}]}\n"
    )
    (tmp_path / "gatehouse.yaml").write_text(
        "policies: [p.yaml]\n"
        "connections: {box: {type: local, command: [bash, --norc], accepts: shell, "
        f"run_as: {ensure_local_account()}}}}}\n"
    )
    config, policies = load_all(tmp_path / "gatehouse.yaml")
    paths = StatePaths(config.state_dir)
    ensure_keys(paths)
    events = LogEvents()
    return Services(config, policies, paths.vault(), events), events


def test_outside_its_window_the_rule_does_not_admit_and_the_refusal_names_it(
    tmp_path: Path,
) -> None:
    broker, events = services(tmp_path)
    broker.clock = lambda: MONDAY_18 + 60
    assert broker.connections_for(ALICE) == []

    async def attempt() -> None:
        with pytest.raises(PolicyDenied, match="'office' applies only in its time windows"):
            await broker.authorize(ALICE, "box")

    asyncio.run(attempt())
    [(_, action, target, details)] = events.events
    assert (action, target, details["rule"]) == ("policy.denied", "box", "default-deny")
    assert details["reason"] == "rule 'office' applies only in its time windows"


def test_inside_its_window_the_session_is_bound_to_the_windows_close(tmp_path: Path) -> None:
    broker, _ = services(tmp_path)
    broker.clock = lambda: MONDAY_9
    assert [v.name for v in broker.connections_for(ALICE)] == ["box"]
    _, grant, decision = asyncio.run(broker._admit(ALICE, "box", None))
    assert grant is None
    assert (decision.rule, decision.until) == ("office", MONDAY_18)
    session = SimpleNamespace(ends_at=None, end_what="access grant", grant_revoked=None)
    broker._bound_by(session, grant, decision)  # type: ignore[arg-type]
    assert session.ends_at == MONDAY_18
    assert session.end_what == "access window of rule 'office'"
