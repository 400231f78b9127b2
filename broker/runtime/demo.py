"""`gatehouse demo`: a self-contained state dir with the invoking user's keys, a local shell,
when an sshd binary is on the machine an `ssh` connection to a private sshd, and when
PostgreSQL's server binaries are, a read-only `db` connection to a private cluster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import asyncssh

from broker.common.accounts import lookup_account
from broker.common.errors import GatehouseError
from broker.config.load import load_all
from broker.config.state import StatePaths
from broker.runtime.app import serve
from broker.runtime.demo_postgres import (
    CREDENTIAL as DB_CREDENTIAL,
)
from broker.runtime.demo_postgres import (
    DATABASE,
    HOW_TO_GET,
    LOGIN,
    DemoDatabase,
    DemoPostgres,
    find_pg_bin,
)
from broker.runtime.demo_sshd import CREDENTIAL, DemoSshd, DemoTarget, find_sshd
from broker.runtime.provision import ensure_keys

DEMO_USER = "demo"
DEMO_APPROVER = "approver"
"""A second demo identity (same keys) that approves the demo user's requests."""
DEMO_ACCOUNT = "gatehouse-demo"
"""The unprivileged account the demo's shell runs as when the demo runs as root."""
DEMO_POLICY = """\
# Demo policy: the demo user may open the local shell, the demo sshd and the demo database
# (read-only, results masked), and shell-prod once `approver` agreed; everything else is denied.
access:
  - {name: demo-shell, groups: [engineers], connections: [shell, ssh, db], action: allow}
  - {name: demo-prod-needs-approval, groups: [engineers], connections: [shell-prod],
     action: approval, approvers: [approvers], approvals: 1, grant: 15m}
commands:
  - {name: no-rm-root, argv: [[rm, "**", "-*[rR]*", "**", "/", "**"]], action: deny}
"""


def _user_keys(state: Path, notes: list[str]) -> tuple[list[str], Path | None]:
    """The invoking user's public keys, or a demo key pair in the demo dir (made once)."""
    keys = []
    ssh_dir = Path.home() / ".ssh"
    for pub in sorted(ssh_dir.glob("*.pub")):
        line = pub.read_text(encoding="utf-8", errors="replace").strip()
        if line.startswith(("ssh-", "ecdsa-", "sk-")):
            keys.append(line)
    if keys:
        notes.append(f"log-in keys: your {len(keys)} key(s) from {ssh_dir}/*.pub")
        return keys, None
    private = state / "demo_ed25519"
    if private.exists():
        notes.append(f"reused demo key (no {ssh_dir}/*.pub): {private}")
    else:
        key = asyncssh.generate_private_key("ssh-ed25519", comment="gatehouse-demo")
        key.write_private_key(str(private))
        private.chmod(0o600)
        key.write_public_key(str(private) + ".pub")
        notes.append(f"generated a demo key (no {ssh_dir}/*.pub found): {private}")
    return [Path(str(private) + ".pub").read_text().strip()], private


def _ssh_connection(target: DemoTarget) -> dict[str, Any]:
    """The demo's `ssh`: the private sshd, its host key pinned, the vault key to log in."""
    return {
        "type": "ssh",
        "host": "127.0.0.1",
        "port": target.port,
        "user": target.user,
        "credential": CREDENTIAL,
        "host_key": target.host_key,
        "description": f"SSH to a private sshd on this host, as {target.user} (pinned host key)",
    }


def _demo_account() -> str:
    """The demo's unprivileged system account (created when missing; the demo runs as root)."""
    if lookup_account(DEMO_ACCOUNT) is None:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        made = subprocess.run(  # fixed argv
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", DEMO_ACCOUNT],
            capture_output=True,
            check=False,
        )
        if made.returncode != 0 and lookup_account(DEMO_ACCOUNT) is None:
            raise GatehouseError(
                f"cannot create the demo account {DEMO_ACCOUNT!r}: "
                f"{made.stderr.decode(errors='replace').strip()}"
            )
    return DEMO_ACCOUNT


def _db_connection(database: DemoDatabase) -> dict[str, Any]:
    """The demo's `db`: the private cluster, read-only, as the role that may only read."""
    return {
        "type": "postgres",
        "host": "127.0.0.1",
        "port": database.port,
        "user": LOGIN,
        "database": DATABASE,
        "credential": DB_CREDENTIAL,
        "read_only": True,
        "description": "PostgreSQL on this host: table customers of fake personal data",
    }


def _shell_connection() -> dict[str, Any]:
    """The demo's `shell`: as an account of its own under root, else (unsafe) as the person.

    A demo run by a person runs as that person and can switch to no other account, so its
    shell is theirs: `unsafe_run_as_broker_user` says so, the broker warns at start, and the
    banner repeats it. Run as root, the demo creates the system account `gatehouse-demo`
    (no home, no login) and the shell runs as that, as a real deployment would.
    """
    shell: dict[str, Any] = {"type": "local", "command": ["bash", "-l"], "accepts": "shell"}
    if os.geteuid() != 0:
        shell["unsafe_run_as_broker_user"] = True
        shell["description"] = "UNSAFE demo: a shell as you, who can read the broker's keys"
        return shell
    _demo_account()
    shell["run_as"] = DEMO_ACCOUNT
    shell["description"] = f"a login shell on the broker host, as {DEMO_ACCOUNT}"
    return shell


def prepare_demo(
    directory: Path,
    port: int,
    target: DemoTarget | None = None,
    database: DemoDatabase | None = None,
) -> tuple[Path, Path | None, list[str]]:
    """Write (or refresh) the demo config.

    Returns:
        The config path, the demo's generated private key (None when the person's own keys
        are used) and what was reused or created, to tell the person.
    """
    directory.mkdir(parents=True, exist_ok=True)
    directory = directory.resolve()
    notes: list[str] = []
    keys, generated = _user_keys(directory, notes)
    (directory / "policies").mkdir(exist_ok=True)
    (directory / "policies" / "demo.yaml").write_text(DEMO_POLICY, encoding="utf-8")
    connections = {
        "shell": _shell_connection(),
        "shell-prod": {**_shell_connection(), "description": "needs an approval first"},
    }
    if target is not None:
        connections["ssh"] = _ssh_connection(target)
    if database is not None:
        connections["db"] = _db_connection(database)
    config = {
        "listen": f"127.0.0.1:{port}",
        "state_dir": "./state",
        "users": {
            DEMO_USER: {"keys": keys, "groups": ["engineers", "reviewers", "auditors"]},
            DEMO_APPROVER: {"keys": keys, "groups": ["approvers"]},
        },
        "connections": connections,
        "policies": ["policies/demo.yaml"],
        "recording": {"retention_days": 30, "strict": True},
        "audit": {"strict": True, "sinks": []},
    }
    path = directory / "gatehouse.yaml"
    # JSON is YAML: written this way the keys need no quoting rules.
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    ensure_keys(StatePaths(directory / "state"))
    return path, generated, notes


def _start_target(directory: Path) -> tuple[DemoSshd | None, DemoTarget | None, list[str]]:
    """Start the demo sshd if this machine has one (the vault key is made first)."""
    sshd = find_sshd()
    if sshd is None:
        return None, None, ["no sshd binary on this machine: the demo has no `ssh` connection"]
    paths = StatePaths(directory.resolve() / "state")
    server = DemoSshd(sshd, directory.resolve() / "sshd", paths.vault())
    try:
        target = server.start()
    except GatehouseError as exc:  # the demo still serves `shell`, and says why not `ssh`
        server.stop()
        return None, None, [*server.notes, f"no `ssh` connection: {exc}"]
    return server, target, server.notes


def _start_database(directory: Path) -> tuple[DemoPostgres | None, DemoDatabase | None, list[str]]:
    """Start the demo cluster if this machine has PostgreSQL's server binaries."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        return None, None, [HOW_TO_GET]
    paths = StatePaths(directory.resolve() / "state")
    account = _demo_account() if os.geteuid() == 0 else None  # PostgreSQL refuses root
    server = DemoPostgres(bin_dir, directory.resolve() / "postgres", paths.vault(), account)
    try:
        database = server.start()
    except GatehouseError as exc:  # the demo still serves the rest, and says why not `db`
        server.stop()
        return None, None, [*server.notes, f"no `db` connection: {exc}"]
    return server, database, server.notes


def run_demo(directory: Path, *, port: int = 2222) -> int:
    """Prepare the demo, start its sshd and serve it, printing how to log in."""
    directory.mkdir(parents=True, exist_ok=True)
    state = directory.resolve() / "state"
    made = ensure_keys(StatePaths(state))  # the vault key, before the sshd's credential
    state_note = f"{'created' if made else 'reused'} the state dir (keys, vault): {state}"
    server, target, sshd_notes = _start_target(directory)
    pg: DemoPostgres | None = None
    database: DemoDatabase | None = None
    db_notes: list[str] = []
    try:
        pg, database, db_notes = _start_database(directory)
        path, generated, notes = prepare_demo(directory, port, target, database)
        notes.insert(0, state_note)
        config, policies = load_all(path)
        paths = StatePaths(config.state_dir)
        host_pub = paths.host_key.with_suffix(".pub").read_text().strip()
        known = path.parent / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {host_pub}\n", encoding="utf-8")
        ident = f"-i {generated} " if generated else ""
        print("Gatehouse demo")
        print(f"  config:   {path}")
        for note in (*notes, *sshd_notes, *db_notes):
            print(f"  {note}")
        print(f"  connections: {', '.join(config.connections)}")
        print("  log in from another terminal with:")
        print(f"    ssh {ident}-o UserKnownHostsFile={known} -p {port} {DEMO_USER}@127.0.0.1")
        if database is not None:
            print("  query the demo database (read-only; personal data in results is masked):")
            example = "sql db -- 'select * from customers limit 5'"
            print(
                f"    ssh {ident}-o UserKnownHostsFile={known} -p {port} {DEMO_USER}@127.0.0.1 {example}"
            )
        print("  try an approval: open shell-prod as demo, then approve it from a second terminal")
        print("  (Ctrl+P in the interface, or `approvals` / `approve ID` over ssh) with:")
        print(f"    ssh {ident}-o UserKnownHostsFile={known} -p {port} {DEMO_APPROVER}@127.0.0.1")
        if config.connections["shell"].local.unsafe_run_as_broker_user:
            print(
                "  UNSAFE: the demo's `shell` runs as you, the broker's own account, and can read"
            )
            print("  its keys (unsafe_run_as_broker_user). Run the demo as root to give the shell")
            print(f"  an unprivileged account ({DEMO_ACCOUNT}); never serve this config to others.")
        print("  stop with Ctrl-C", flush=True)
        return serve(config, policies)
    finally:
        if pg is not None:
            pg.stop()
        if server is not None:
            server.stop()
