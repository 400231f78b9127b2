"""Real components for tests: sshd, PostgreSQL, an OIDC provider, tmux and pty terminals."""

from __future__ import annotations

from tests.harness.oidc import DeviceAuthorization, OidcProvider, TokenResponse, jwt_claims
from tests.harness.postgres import PostgresServer
from tests.harness.process import HarnessError, WaitTimeout
from tests.harness.pty_client import PtyClient
from tests.harness.ssh_client import askpass_env, ssh_client_argv
from tests.harness.sshd import SshdTarget
from tests.harness.tmux import TmuxClient

__all__ = [
    "DeviceAuthorization",
    "HarnessError",
    "OidcProvider",
    "PostgresServer",
    "PtyClient",
    "SshdTarget",
    "TmuxClient",
    "TokenResponse",
    "WaitTimeout",
    "askpass_env",
    "jwt_claims",
    "ssh_client_argv",
]
