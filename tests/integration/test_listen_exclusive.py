"""One broker per port: a second `gatehouse serve` on a taken port fails with "address in use"."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.support.broker import ROOT, BrokerProcess, shell_broker


@pytest.fixture(params=[1, 2], ids=["single", "workers"])
def first(request: pytest.FixtureRequest) -> Iterator[BrokerProcess]:
    with shell_broker(workers=request.param) as broker:
        yield broker


@pytest.mark.parametrize("workers", [1, 2])
def test_second_broker_on_the_same_port_fails(first: BrokerProcess, workers: int) -> None:
    second = shell_broker()  # its own state dir, users and audit log
    try:
        result = subprocess.run(
            [
                *(sys.executable, "-m", "broker.cli", "serve", "-c", str(second.config)),
                *("--port", str(first.port), "--workers", str(workers)),
            ],
            capture_output=True,
            timeout=60,
            cwd=ROOT,
            check=False,
        )
        assert result.returncode == 1, result.stdout + result.stderr
        assert b"address in use" in result.stderr, result.stderr
        assert f"127.0.0.1:{first.port}".encode() in result.stderr
        assert b"listening on" not in result.stdout
        # the first broker still takes every login
        for _ in range(4):
            login = first.run_ssh("alice", "list")
            assert login.returncode == 0, login.stderr
            assert b"shell" in login.stdout
    finally:
        second.stop()
