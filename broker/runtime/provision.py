"""Provisioning a state dir: owner-only keys (host, vault, audit signing, masking) and `init`."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path

import asyncssh

from broker.auditlog.keys import generate_signing_key
from broker.common.errors import GatehouseError
from broker.config.state import POLICY_SOURCE, StatePaths
from broker.vault import create_key

log = logging.getLogger(__name__)
OWNER_ONLY = {True: 0o700, False: 0o600}
"""The mode of a directory (True) and of a file (False) under the state dir, at most."""


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def ensure_keys(paths: StatePaths) -> list[Path]:
    """Create whichever keys are missing (host, vault, audit signing, masking HMAC)."""
    made = []
    if not paths.host_key.exists():
        key = asyncssh.generate_private_key("ssh-ed25519")
        _write_private(paths.host_key, key.export_private_key())
        paths.host_key.with_suffix(".pub").write_bytes(key.export_public_key())
        made.append(paths.host_key)
    if not paths.vault_key.exists():
        create_key(paths.vault_key)
        made.append(paths.vault_key)
    if not paths.audit_key.exists():
        generate_signing_key(paths.audit_key)
        made.append(paths.audit_key)
    if not paths.masking_key.exists():
        _write_private(paths.masking_key, os.urandom(32))
        made.append(paths.masking_key)
    for sub in (paths.vault_dir, paths.audit_dir, paths.recordings_dir):
        sub.mkdir(parents=True, exist_ok=True, mode=0o700)
    return made


def secure_state(paths: StatePaths) -> list[Path]:
    """Make everything under the state dir owner-only (0700 dirs, 0600 files); returns what it fixed.

    The keys, vault, audit log and recordings must be readable by the broker's account
    alone: a local connection runs as another account and must find nothing it can open.
    Symbolic links are neither followed nor changed.

    Raises:
        GatehouseError: the state dir, or something in it, belongs to another account.
    """
    uid = os.geteuid()
    fixed: list[Path] = []
    if not paths.root.is_dir():
        return fixed
    for here, dirs, files in os.walk(paths.root):
        base = Path(here)
        entries = [base] if base == paths.root else []
        entries += [base / name for name in (*dirs, *files)]
        for entry in entries:
            st = entry.lstat()
            if stat.S_ISLNK(st.st_mode):
                continue
            if st.st_uid != uid:
                raise GatehouseError(
                    f"{entry} belongs to uid {st.st_uid}, not to the broker's account "
                    f"(uid {uid}); refusing to use this state dir"
                )
            limit = OWNER_ONLY[stat.S_ISDIR(st.st_mode)]
            mode = stat.S_IMODE(st.st_mode)
            if mode & ~limit:
                os.chmod(entry, mode & limit)
                fixed.append(entry)
    return fixed


CONFIG_TEMPLATE = """\
# Gatehouse configuration. Reference: README.md ("Configuration").
listen: 127.0.0.1:2222
state_dir: ./state
users:
  # alice: {{keys: ["ssh-ed25519 AAAA... alice@laptop"], groups: [engineers]}}
{users}
connections:
  # Engineers reach targets through ssh connections; the broker hands out no shell of its own.
  # A local connection runs a tool on this host as an unprivileged account of its own
  # (never root, never the broker's account), and takes a command from `run` only if it says so:
  # logs: {{type: local, command: [less, /var/log/app.log], run_as: gh-logs, accepts: none}}
  # web-1: {{type: ssh, host: 127.0.0.1, port: 22, user: deploy, credential: web-1,
  #         host_key: "ssh-ed25519 AAAA..."}}   # then: gatehouse secret set web-1 < key
policies: [policies/default.yaml]
store: sqlite
recording: {{retention_days: 365, strict: true}}
audit: {{strict: true, sinks: []}}
"""


def init_state(directory: Path, users_yaml: str = "  {}") -> Path:
    """Create a fresh config + state dir in ``directory``; returns the config path.

    Refuses to overwrite an existing `gatehouse.yaml`.
    """
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "gatehouse.yaml"
    if config.exists():
        raise FileExistsError(f"{config} already exists; not overwriting it")
    config.write_text(CONFIG_TEMPLATE.format(users=users_yaml), encoding="utf-8")
    policies = directory / "policies"
    policies.mkdir(exist_ok=True)
    for src in sorted(POLICY_SOURCE.glob("*.yaml")):
        dest = policies / src.name
        if not dest.exists():
            shutil.copyfile(src, dest)
    ensure_keys(StatePaths(directory / "state"))
    return config
