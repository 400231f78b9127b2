"""Command lines and environments for driving the real OpenSSH client in tests."""

from __future__ import annotations

import os
from pathlib import Path

from tests.harness.process import LOOPBACK

ASKPASS_VARIABLE = "GH_TEST_ASKPASS_SECRET"


def ssh_client_argv(
    port: int, user: str, key_path: Path | str, *remote_args: str, tty: bool = True
) -> list[str]:
    """Build an OpenSSH client command line for the broker (or any server) on 127.0.0.1.

    Args:
        port: Server port on 127.0.0.1.
        user: Login name.
        key_path: Private key to authenticate with (the only identity offered).
        *remote_args: Remote command words (``"run", "web-1", "--", "id"``); none: a shell.
        tty: Force a pty with ``-tt`` (as a person at a terminal would have).

    Returns:
        The argv list.
    """
    argv = [
        "ssh",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "KexAlgorithms=curve25519-sha256",
        "-i",
        str(key_path),
        "-p",
        str(port),
    ]
    if tty:
        argv.append("-tt")
    argv += [f"{user}@{LOOPBACK}", *remote_args]
    return argv


def askpass_env(
    password: str, directory: Path, base: dict[str, str] | None = None
) -> dict[str, str]:
    """Return an environment in which ``ssh`` answers its password prompt with ``password``.

    A tiny askpass script is written to ``directory``; it prints the password from an
    environment variable, so the password is never stored in a file.

    Args:
        password: The password to give.
        directory: A private directory for the script.
        base: The environment to extend (default: this process's).

    Returns:
        The environment for the ``ssh`` child (``SSH_ASKPASS`` + ``SSH_ASKPASS_REQUIRE=force``).
    """
    script = directory / "askpass"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "${ASKPASS_VARIABLE}"\n')
    script.chmod(0o700)
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "SSH_ASKPASS": str(script),
            "SSH_ASKPASS_REQUIRE": "force",
            ASKPASS_VARIABLE: password,
        }
    )
    env.pop("DISPLAY", None)
    return env
