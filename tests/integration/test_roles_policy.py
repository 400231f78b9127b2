"""Role groups come from policy: renamed reviewers and unmasked groups, through a real broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from broker.config.load import load_all
from broker.config.state import StatePaths
from broker.services import LogEvents, Services
from broker.session.terminal import Principal
from tests.harness.accounts import local_connection
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: all, groups: [engineers], connections: ["*"], action: allow}
masking:
  detectors: {enable: all}
roles:
  reviewers: [sec-review]
  unmasked: [break-glass]
"""
USERS = {
    "alice": ["engineers"],
    "rita": ["sec-review"],
    "olga": ["reviewers"],  # today's default name, no longer a reviewer group
    "ben": ["engineers", "unmasked"],  # likewise for masking
    "gina": ["engineers", "break-glass"],
}
SECRET = "jane.doe@example.com"


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    proc = BrokerProcess(USERS, {"shell": local_connection(["bash", "--norc"])}, POLICY)
    with proc:
        yield proc


def listed(broker: BrokerProcess, principal: Principal) -> list[str]:
    """Session ids ``principal`` may list, asked of services built from the broker's config."""
    config, policies = load_all(broker.config)

    async def go() -> list[str]:
        services = Services(config, policies, StatePaths(config.state_dir).vault(), LogEvents())
        return [i.session_id for i in await services.review.list_recordings(principal)]

    return asyncio.run(go())


def test_renamed_reviewer_group_lists_every_recording(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", "shell", "--", "echo for-review")
    assert result.returncode == 0, result.stderr
    alices = listed(broker, Principal("alice", ("engineers",)))
    assert len(alices) >= 1  # her own
    assert set(alices) <= set(listed(broker, Principal("rita", ("sec-review",))))
    assert listed(broker, Principal("olga", ("reviewers",))) == []


def test_renamed_unmasked_group_is_the_only_bypass(broker: BrokerProcess) -> None:
    command = ("run", "shell", "--", f"echo {SECRET}")
    masked = broker.run_ssh("ben", *command)
    assert masked.returncode == 0, masked.stderr
    assert SECRET.encode() not in masked.stdout
    assert masked.stdout.strip()  # something was printed, with the address masked
    bypassed = broker.run_ssh("gina", *command)
    assert bypassed.returncode == 0, bypassed.stderr
    assert bypassed.stdout.strip() == SECRET.encode()
    records = [
        json.loads(line)
        for seg in sorted((broker.dir / "state" / "audit").glob("audit-*.jsonl"))
        for line in seg.read_text().splitlines()
    ]
    bypasses = [(r["actor"], r["details"]) for r in records if r["action"] == "masking.bypassed"]
    assert bypasses == [("gina", {"group": "break-glass"})]  # audited, naming the role's group
