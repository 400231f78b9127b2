"""Pytest fixtures for the real components; ``tests/conftest.py`` star-imports this module."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from tests.harness.oidc import OidcProvider
from tests.harness.postgres import PostgresServer
from tests.harness.pty_client import PtyClient
from tests.harness.sshd import SshdTarget
from tests.harness.tmux import TmuxClient

__all__ = [
    "STARTUP_SECONDS",
    "oidc_provider",
    "postgres_server",
    "pty_client",
    "pytest_terminal_summary",
    "sshd_target",
    "tmux_client",
]

STARTUP_SECONDS: dict[str, float] = {}
"""Seconds each session fixture took to start in this test run (printed in the summary)."""


@pytest.fixture(scope="session")
def sshd_target() -> Iterator[SshdTarget]:
    """Our own sshd on 127.0.0.1 with the system user ``gh-target`` (key and password)."""
    with SshdTarget() as target:
        STARTUP_SECONDS["sshd_target"] = target.startup_seconds
        yield target


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL 15 with role ``app`` and database ``shop`` full of fake PII."""
    with PostgresServer() as server:
        STARTUP_SECONDS["postgres_server"] = server.startup_seconds
        yield server


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """node oidc-provider with the device flow, client ``gatehouse`` and a ``groups`` claim."""
    with OidcProvider() as provider:
        STARTUP_SECONDS["oidc_provider"] = provider.startup_seconds
        yield provider


@pytest.fixture
def tmux_client() -> Iterator[Callable[..., TmuxClient]]:
    """A factory ``start(argv, cols=120, rows=40, env=None, …)``; every client is killed after."""
    started: list[TmuxClient] = []

    def start(argv: Sequence[str], **kwargs: Any) -> TmuxClient:
        client = TmuxClient.start(argv, **kwargs)
        started.append(client)
        return client

    yield start
    for client in started:
        client.kill()


@pytest.fixture
def pty_client() -> Iterator[Callable[..., PtyClient]]:
    """A factory ``start(argv, cols=120, rows=40, env=None, …)``; every client is killed after."""
    started: list[PtyClient] = []

    def start(argv: Sequence[str], **kwargs: Any) -> PtyClient:
        client = PtyClient.start(argv, **kwargs)
        started.append(client)
        return client

    yield start
    for client in started:
        client.kill()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print how long each real component took to start, when any was started.

    Idempotent: the hook may be registered by more than one conftest that star-imports this.
    """
    if STARTUP_SECONDS and not getattr(terminalreporter, "_gatehouse_startup_printed", False):
        terminalreporter._gatehouse_startup_printed = True
        figures = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in STARTUP_SECONDS.items())
        terminalreporter.write_line(f"real components started: {figures}")
