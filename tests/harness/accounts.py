"""The unprivileged system account that local connections run as in tests (created if missing)."""

from __future__ import annotations

import os
import pwd
import subprocess

import pytest

LOCAL_ACCOUNT = "gh-test-local"
"""Local connections in tests run as this account, never as the broker's (root)."""


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def ensure_local_account(name: str = LOCAL_ACCOUNT) -> str:
    """Create the system account ``name`` if missing; returns its name.

    Skips the calling test when not root: the broker can then start no process as another
    account, and a local connection that would run as the broker's own is what we test against.
    """
    if os.geteuid() != 0:
        pytest.skip(f"local connections run as {name}: creating it and switching to it needs root")
    # Bounded: several test runs may add it at once; useradd waits for the passwd lock itself.
    for _ in range(5):
        if _exists(name):
            return name
        subprocess.run(  # fixed argv
            ["useradd", "--system", "--no-create-home", name],
            capture_output=True,
            check=False,
        )
    if not _exists(name):
        raise RuntimeError(f"could not create the test account {name}")
    return name


def local_connection(command: list[str], *, accepts: str = "shell") -> dict[str, object]:
    """A `local` connection running ``command`` as the test account."""
    return {
        "type": "local",
        "command": command,
        "run_as": ensure_local_account(),
        "accepts": accepts,
    }
