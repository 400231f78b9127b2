"""What a local connection's child process is: its argv, account, environment and directory."""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from broker.common.accounts import Account, privileged_groups
from broker.common.errors import PolicyDenied, UpstreamError
from broker.config.model import Connection

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
SETPRIV_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
"""Where ``setpriv`` is looked for (never the broker's own PATH)."""
KEEP_FROM_BROKER = ("LANG", "LC_ALL", "TZ")
"""The only variables of the broker's own environment a child sees."""


@dataclass(frozen=True)
class ChildPlan:
    """How to start a local connection's process."""

    argv: tuple[str, ...]
    """What is executed (for `sudo`: the whole `sudo -n -u … -- env -i …` line)."""
    env: Mapping[str, str]
    """The complete environment (nothing else of the broker's is passed on)."""
    cwd: str
    """Working directory: the account's home if it owns one, else `/`."""
    drop_to: Account | None = None
    """The account the child switches to before exec (the broker is root); None: no switch."""
    program: str = ""
    """The connection's own program (what error messages name; `argv` may start with setpriv)."""
    expect: Account | None = None
    """The account the started process must run as, checked once it runs (None: unchecked:
    the unsafe broker-user mode, or sudo, which starts as root and switches itself)."""


def command_argv(conn: Connection, command: str | None) -> tuple[str, ...]:
    """What ``conn`` executes for a terminal (``command`` None) or for `run CONN -- command`.

    Raises:
        PolicyDenied: the connection takes no command, or the command cannot be split.
    """
    if command is None:
        return conn.command
    mode = conn.local.accepts
    if mode == "shell":
        return (*conn.command, "-c", command)
    if mode == "args":
        try:
            return (*conn.command, *shlex.split(command))
        except ValueError as exc:
            raise PolicyDenied(
                f"connection {conn.name!r} takes arguments, and this command cannot be split "
                f"into them: {exc}",
                rule=f"{conn.name}.accepts",
            ) from None
    raise PolicyDenied(
        f"connection {conn.name!r} takes no command; open it with `connect {conn.name}` "
        "(an admin can set `accepts: shell` or `accepts: args` on it)",
        rule=f"{conn.name}.accepts",
    )


def child_env(
    account: Account, term_type: str | None, broker_env: Mapping[str, str]
) -> dict[str, str]:
    """A fresh environment for ``account``: nothing of the broker's but locale and time zone."""
    env = {k: broker_env[k] for k in KEEP_FROM_BROKER if k in broker_env}
    env.update(
        PATH=SAFE_PATH,
        HOME=account.home,
        USER=account.name,
        LOGNAME=account.name,
        SHELL=account.shell,
    )
    if term_type:
        env["TERM"] = term_type
    return env


def home_dir(account: Account) -> str:
    """The account's home if it exists and belongs to it; `/` otherwise (never the broker's)."""
    try:
        st = os.stat(account.home)
    except OSError:
        return "/"
    if stat.S_ISDIR(st.st_mode) and st.st_uid == account.uid and account.uid != 0:
        return account.home
    return "/"


def plan_child(
    argv: Sequence[str],
    account: Account,
    broker: Account,
    *,
    via: str,
    unsafe_broker_user: bool,
    term_type: str | None,
    broker_env: Mapping[str, str],
    setpriv: str | None,
) -> ChildPlan:
    """Decide how ``argv`` is started as ``account`` by a broker running as ``broker``.

    A switched child execs through ``setpriv --no-new-privs``: from then on no set-user-ID
    program (su, sudo, pkexec) or file capability gives it back any privilege.

    Raises:
        UpstreamError: the account is root or the broker's own (without the unsafe flag), the
            broker cannot switch to it, or there is no ``setpriv`` to start it with.
    """
    if account.uid == 0:
        raise UpstreamError(f"refusing to run a local connection as root ({account.name!r})")
    env = child_env(account, term_type, broker_env)
    cwd = home_dir(account)
    if account.uid != broker.uid and (privileged := privileged_groups(account)):
        raise UpstreamError(
            f"refusing to run a local connection as {account.name!r}: it is in "
            f"{', '.join(privileged)}"
        )
    if account.uid == broker.uid:
        if not unsafe_broker_user:
            raise UpstreamError(
                f"refusing to run a local connection as the broker's own account {account.name!r}"
            )
        return ChildPlan(tuple(argv), env, cwd, drop_to=None, program=argv[0])
    if setpriv is None:
        raise UpstreamError(
            "cannot start a local connection without new privileges: setpriv (util-linux) "
            "is not installed"
        )
    program = argv[0]
    argv = (setpriv, "--no-new-privs", "--", *argv)
    if broker.uid == 0:
        return ChildPlan(argv, env, cwd, drop_to=account, program=program, expect=account)
    if via != "sudo":
        raise UpstreamError(
            f"the broker runs as {broker.name!r}, not root, and cannot start a process as "
            f"{account.name!r} (set `run_as_via: sudo` to use sudo)"
        )
    # sudo may keep variables of its own policy: `env -i` makes the environment exactly ours,
    # and `--chdir` moves to a directory the account itself can enter. Its first word after
    # the assignments is setpriv's path, so no word of the command is read as an assignment.
    assignments = [f"{k}={v}" for k, v in sorted(env.items())]
    line = (
        *("sudo", "-n", "-u", account.name, "--"),
        *("/usr/bin/env", "-i", f"--chdir={cwd}"),
        *assignments,
        *argv,
    )
    return ChildPlan(line, {"PATH": SAFE_PATH}, "/", drop_to=None, program=program)


def _status_fields(pid: int) -> dict[str, list[str]]:
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
        fields = {}
        for line in fh:
            key, _, value = line.partition(":")
            fields[key] = value.split()
        return fields


def verify_credentials(pid: int, account: Account) -> None:
    """Check that process ``pid`` runs as ``account`` and holds no capability.

    Every uid (real, effective, saved, filesystem) and gid must be the account's, its groups
    exactly the account's, and its permitted and effective capability sets empty: then it
    has nothing left to switch back to.

    Raises:
        UpstreamError: the process's credentials are not what was asked for.
    """
    try:
        fields = _status_fields(pid)
    except OSError as exc:
        raise UpstreamError(f"cannot check the local process's account: {exc.strerror}") from None
    uids = {int(v) for v in fields.get("Uid", [])}
    gids = {int(v) for v in fields.get("Gid", [])}
    groups = {int(v) for v in fields.get("Groups", [])}
    caps = {int(fields.get(k, ["1"])[0], 16) for k in ("CapPrm", "CapEff")}
    if account.uid == 0 or uids != {account.uid}:
        raise UpstreamError(f"local process runs with uids {sorted(uids)}, not {account.uid}")
    if gids != {account.gid} or groups != set(account.groups):
        raise UpstreamError(f"local process has groups other than {account.name!r}'s")
    if caps != {0}:
        raise UpstreamError("local process kept capabilities after switching user")
