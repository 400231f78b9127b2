"""One broker per port: a second `gatehouse serve` on a taken port fails with "address in use"."""

from __future__ import annotations

import os
import signal
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
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "broker.cli", "serve", "-c", str(second.config)),
                *("--port", str(first.port), "--workers", str(workers)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            start_new_session=True,  # if it did start, its workers go with it below
        )
        try:
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.communicate(timeout=30)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
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
