"""What the facade writes itself (denials, failures) is masked with the session's policy."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from broker.common.errors import PolicyDenied
from broker.config.load import load_all
from broker.config.state import StatePaths
from broker.frontdoor.channel import Principal
from broker.masking.filter import load_engines
from broker.runtime.provision import ensure_keys
from broker.services import LogEvents, Services
from tests.harness.accounts import ensure_local_account
from tests.tui.fakes import FakeChannel

PASSWORD = "Den1edPassw0rd"
MAIL = "john.doe@example.com"


def services(tmp_path: Path) -> tuple[Services, LogEvents]:
    (tmp_path / "p.yaml").write_text(
        "access: [{name: all, groups: [eng], connections: ['*'], action: allow}]\n"
        "commands: [{name: no-mysql, argv: [[mysql, '**']], action: deny}]\n"
        "masking: {detectors: {enable: all, disable: [ipv4, ipv6]}}\n"
    )
    (tmp_path / "gatehouse.yaml").write_text(
        "policies: [p.yaml]\n"
        "connections: {db: {type: local, command: [bash, --norc], accepts: shell, "
        f"run_as: {ensure_local_account()}}}}}\n"
    )
    config, policies = load_all(tmp_path / "gatehouse.yaml")
    paths = StatePaths(config.state_dir)
    ensure_keys(paths)
    events = LogEvents()
    engines = load_engines(policies, paths.masking_key)
    return Services(config, policies, paths.vault(), events, masking=engines), events


def test_a_refused_run_command_is_audited_masked_with_its_proofs(tmp_path: Path) -> None:
    broker, events = services(tmp_path)
    alice = Principal("alice", ("eng",), client_addr="127.0.0.1:5000")
    command = f"mysql -uroot -p{PASSWORD} -e 'select 1' # {MAIL}"

    async def attempt() -> None:
        with pytest.raises(PolicyDenied):
            await broker.run(alice, "db", command, FakeChannel(principal=alice))  # type: ignore[arg-type]

    asyncio.run(attempt())
    [(_, action, _, details)] = events.events
    assert action == "policy.denied"
    assert (
        details["command"]
        == "mysql -uroot -p[MASKED:password_option] -e 'select 1' # [MASKED:email]"
    )
    assert set(details["masked"]) == {"password_option", "email"}
    assert details["client"] == "127.0.0.1:5000"
    assert PASSWORD not in repr(events.events)


def test_an_unknown_connection_name_is_audited_masked(tmp_path: Path) -> None:
    broker, events = services(tmp_path)
    alice = Principal("alice", ("eng",), client_addr="127.0.0.1:5000")
    card = "4111 1111 1111 1111"

    async def attempt() -> None:
        with pytest.raises(PolicyDenied):
            await broker.run(alice, card, "true", FakeChannel(principal=alice))  # type: ignore[arg-type]

    asyncio.run(attempt())
    [(_, action, target, details)] = events.events
    assert (action, target, details["rule"]) == (
        "policy.denied",
        "[MASKED:credit_card]",
        "unknown-connection",
    )
    assert set(details["masked"]) == {"credit_card"}
    assert "requested" not in details
