"""The broker's console, read from a real broker's log: one line per login, session start and
session end (user, connection, bytes, exit status, never the command), nothing about its own
idle garbage collection above debug level, and nothing else."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.harness.accounts import local_connection
from tests.harness.process import wait_until
from tests.support.broker import SHELL_POLICY, BrokerProcess

LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (?P<level>[A-Z]+) (?P<logger>\S+): (?P<message>.*)$")


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    proc = BrokerProcess(
        {"alice": ["engineers"]},
        {"shell": local_connection(["bash", "--norc"])},
        SHELL_POLICY,
        verbose=True,
    )
    with proc:
        yield proc


def records(broker: BrokerProcess) -> list[tuple[str, str, str]]:
    out = []
    for line in broker.log().splitlines():
        found = LINE.match(line)
        if found:
            out.append((found["level"], found["logger"], found["message"]))
    return out


def test_sessions_and_logins_one_line_each_and_nothing_else(broker: BrokerProcess) -> None:
    ran = broker.run_ssh("alice", "run", "shell", "--", "echo planted-77; exit 3")
    assert ran.returncode == 3, ran.stderr
    assert broker.run_ssh("alice", "list").returncode == 0
    # the idle collection follows the last session's close; the broker reports it at debug
    wait_until(
        lambda: any("full garbage collection (idle)" in m for _, _, m in records(broker)) or None,
        timeout=15,
        what="the idle garbage collection",
        detail=broker.log,
    )
    shown = [(logger, m) for level, logger, m in records(broker) if level != "DEBUG"]
    # startup may say which dependency patches are active (decision 014) and the open-file
    # limit it set (decision 016); from the first login on, the console is the sessions'
    # lines and nothing else
    first = next(i for i, (_, m) in enumerate(shown) if m.startswith("login: "))
    assert all(m.startswith(("patch ", "open-file limit ")) for _, m in shown[:first]), shown
    shown = shown[first:]
    assert [logger for logger, _ in shown] == ["gatehouse.sessions"] * 4, shown
    login, start, end, second_login = (m for _, m in shown)
    assert re.fullmatch(r"login: alice from 127\.0\.0\.1:\d+", login)
    assert re.fullmatch(
        r"session start: alice -> shell \(run, session \S+, from 127\.0\.0\.1:\d+\)", start
    )
    assert re.fullmatch(
        r"session end: alice -> shell: exit status 3, 0 B in, 11 B out, [\d.]+ s \(session \S+\)",
        end,
    )
    assert second_login.startswith("login: alice from ")
    assert "planted-77" not in broker.log()
