"""The `local` connection's settings: which account it runs as and whether `run` gives it a command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from broker.common.accounts import Host, privileged_groups
from broker.common.yamlsrc import KeyPath, Reader

Accepts = Literal["none", "shell", "args"]
RunAsVia = Literal["setuid", "sudo"]
ACCEPTS: tuple[Accepts, ...] = ("none", "shell", "args")
VIA: tuple[RunAsVia, ...] = ("setuid", "sudo")
UNSAFE_KEY = "unsafe_run_as_broker_user"
LOCAL_KEYS = ("type", "command", "description", "run_as", "accepts", "run_as_via", UNSAFE_KEY)


@dataclass(frozen=True)
class LocalSettings:
    """How a `local` connection's process is started."""

    run_as: str = ""
    """The unprivileged account the process runs as (never root, never the broker's own)."""
    accepts: Accepts = "none"
    """What `run CONN -- CMD` does: `none` refuses a command, `shell` runs `COMMAND… -c CMD`,
    `args` appends the command's words (split like a shell would, nothing expanded)."""
    run_as_via: RunAsVia = "setuid"
    """`setuid`: the broker (root) changes the child's user itself; `sudo`: a broker that is
    not root starts `sudo -n -u RUN_AS -- …` (a sudoers rule must allow exactly that)."""
    unsafe_run_as_broker_user: bool = False
    """Run as the broker's own account, which can read every key in the state dir. Only for a
    demo on the person's own machine; refused when the broker runs as root; warned at start."""


def parse_local(r: Reader, path: KeyPath) -> LocalSettings:
    """Read a local connection's `run_as`, `accepts`, `run_as_via` and unsafe flag (shape only).

    Raises:
        ConfigError: naming file, line and key of the problem.
    """
    unsafe = r.boolean((*path, UNSAFE_KEY), default=False)
    run_as = r.string((*path, "run_as"))
    if unsafe and run_as:
        raise r.src.error((*path, UNSAFE_KEY), f"set either run_as or {UNSAFE_KEY}, not both")
    if not unsafe and not run_as:
        raise r.src.error(
            (*path, "run_as"),
            "is required for a local connection: the unprivileged account it runs as "
            "(never root, never the broker's own account)",
        )
    if run_as == "root":
        raise r.src.error((*path, "run_as"), "must not be root: name an unprivileged account")
    accepts = r.string((*path, "accepts"), default="none")
    if accepts not in ACCEPTS:
        raise r.src.error((*path, "accepts"), "must be none, shell or args")
    via = r.string((*path, "run_as_via"), default="setuid")
    if via not in VIA:
        raise r.src.error((*path, "run_as_via"), "must be setuid or sudo")
    return LocalSettings(
        run_as=run_as,
        accepts=accepts,
        run_as_via=via,
        unsafe_run_as_broker_user=unsafe,
    )


def check_run_as(r: Reader, path: KeyPath, local: LocalSettings, host: Host) -> None:
    """Check a local connection's account against the host the broker runs on.

    Raises:
        ConfigError: the account is missing, is root, is the broker's own, or the broker
            cannot switch to it.
    """
    broker = host.broker
    if local.unsafe_run_as_broker_user:
        if host.is_root:
            raise r.src.error(
                (*path, UNSAFE_KEY),
                "the broker runs as root: a local connection never runs as root; "
                "set run_as to an unprivileged account",
            )
        return
    key: KeyPath = (*path, "run_as")
    account = host.lookup(local.run_as)
    if account is None:
        raise r.src.error(key, f"no account {local.run_as!r} on this host")
    if account.uid == 0:
        raise r.src.error(key, f"{local.run_as!r} is root (uid 0): name an unprivileged account")
    if account.uid == broker.uid:
        raise r.src.error(
            key,
            f"{local.run_as!r} is the broker's own account, which can read its keys: "
            "name another, unprivileged account",
        )
    if privileged := privileged_groups(account):
        raise r.src.error(
            key,
            f"{local.run_as!r} is in {', '.join(privileged)}, which can become root or read "
            "any file: name an account without such groups",
        )
    if not host.is_root and local.run_as_via != "sudo":
        raise r.src.error(
            key,
            f"the broker runs as {broker.name!r}, not root, so it cannot start a process as "
            f"{local.run_as!r}: run it as root, or set `run_as_via: sudo` and allow "
            f"`sudo -n -u {local.run_as}` in sudoers",
        )
