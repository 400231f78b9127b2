"""End to end: a person whose key is not enrolled signs in with the IdP inside the TUI over ssh."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import OidcProvider
from tests.harness.accounts import local_connection
from tests.harness.ssh_client import ssh_client_argv
from tests.harness.tmux import TmuxClient
from tests.support.broker import BrokerProcess, keygen

QR_ROW = re.compile(r"[█▀▄ ]{29,}")
"""A row of a QR code drawn in half blocks (version 3 or more: 29 modules and its quiet zone)."""


def qr_rows(screen: str) -> list[str]:
    """The rows of the screen that are a drawn QR code (only half blocks, at least 29 wide)."""
    rows = [m[0] for line in screen.splitlines() if (m := QR_ROW.search(line.replace("│", " ")))]
    return [row for row in rows if row.strip() and "█" in row]


POLICY = """\
access:
  - {name: eng, groups: [engineers], connections: [shell], action: allow}
"""


@pytest.fixture(scope="module")
def broker(oidc_provider: OidcProvider) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(
        {},
        {"shell": local_connection(["bash", "--norc", "-i"])},
        POLICY,
        extra={
            "oidc": {
                "issuer": oidc_provider.issuer,
                "client_id": oidc_provider.client_id,
                "group_map": {"engineers": ["engineers"]},
            }
        },
    )
    with proc:
        yield proc


def audit_records(broker: BrokerProcess) -> list[dict[str, Any]]:
    out = []
    for seg in sorted((broker.dir / "state" / "audit").glob("audit-*.jsonl")):
        out += [json.loads(line) for line in seg.read_text().splitlines() if line.strip()]
    return out


def open_signin(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient], tmp_path: Path
) -> tuple[TmuxClient, str]:
    key = tmp_path / "alice_ed25519"
    keygen(key, "alice")
    client = tmux_client(ssh_client_argv(broker.port, "alice", key, tty=True), cols=120, rows=45)
    screen = client.wait_for(re.compile(r"code\s+[A-Z]{4}-[A-Z]{4}"), timeout=20)
    return client, screen


def test_device_flow_in_the_tui_draws_the_qr_and_lets_the_person_in(
    broker: BrokerProcess,
    oidc_provider: OidcProvider,
    tmux_client: Callable[..., TmuxClient],
    tmp_path: Path,
) -> None:
    client, screen = open_signin(broker, tmux_client, tmp_path)
    assert "Sign in with your organisation's identity provider" in screen
    assert len(qr_rows(screen)) >= 15, screen  # the QR code is drawn in the terminal
    url = re.search(r"open\s+(\S+)", screen)
    code = re.search(r"code\s+([A-Z]{4}-[A-Z]{4})", screen)
    assert url is not None
    assert code is not None
    assert "waiting for you to sign in" in screen
    oidc_provider.complete_device_flow(url[1], code[1], "alice")
    screen = client.wait_for("type to filter connections", timeout=20)
    assert "alice · engineers" in screen
    assert "shell" in screen
    client.send_keys("C-q")
    client.wait_exit(timeout=10)
    records = audit_records(broker)
    login = next(r for r in records if r["action"] == "login.idp")
    assert login["details"]["idp_subject"] == "alice"
    assert login["details"]["method"] == "device"
    assert any(r["action"] == "login.key_enrolled" for r in records)


def test_escape_cancels_the_sign_in_and_leaves(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient], tmp_path: Path
) -> None:
    client, _ = open_signin(broker, tmux_client, tmp_path)
    client.send_keys("Escape")
    client.wait_exit(timeout=15)
    deadline = time.monotonic() + 10
    while not any(r["details"].get("reason") == "cancelled" for r in audit_records(broker)):
        assert time.monotonic() < deadline, "the cancelled sign-in was not audited"
        time.sleep(0.05)


def test_connect_without_the_tui_signs_in_on_the_terminal(
    broker: BrokerProcess,
    oidc_provider: OidcProvider,
    tmux_client: Callable[..., TmuxClient],
    tmp_path: Path,
) -> None:
    key = tmp_path / "alice_ed25519"
    keygen(key, "alice")
    argv = ssh_client_argv(broker.port, "alice", key, "connect", "shell", tty=True)
    client = tmux_client(argv, cols=100, rows=45)
    screen = client.wait_for(re.compile(r"code\s+[A-Z]{4}-[A-Z]{4}"), timeout=20)
    assert "Waiting for you to sign in… (Ctrl-C cancels)" in screen
    assert len(qr_rows(screen)) >= 15, screen
    url = re.search(r"open\s+(\S+)", screen)
    code = re.search(r"code\s+([A-Z]{4}-[A-Z]{4})", screen)
    assert url is not None
    assert code is not None
    oidc_provider.complete_device_flow(url[1], code[1], "alice")
    client.wait_for(re.compile(r"\$\s*$", re.M), timeout=20)  # keys typed before it are dropped
    client.send_text("echo signed-in-$((6*7))\n")
    client.wait_for("signed-in-42", timeout=20)
    client.send_text("exit\n")
    client.wait_exit(timeout=15)


def test_ctrl_c_cancels_connect_sign_in(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient], tmp_path: Path
) -> None:
    key = tmp_path / "carol_ed25519"
    keygen(key, "carol")
    argv = ssh_client_argv(broker.port, "carol", key, "connect", "shell", tty=True)
    client = tmux_client(argv, cols=100, rows=45)
    client.wait_for(re.compile(r"code\s+[A-Z]{4}-[A-Z]{4}"), timeout=20)
    client.send_keys("C-c")
    screen = client.wait_for("gatehouse: sign-in failed: sign-in cancelled", timeout=10)
    assert "signed-in" not in screen
    client.wait_exit(timeout=10)
