"""Host accounts: who the broker runs as, and the unprivileged accounts local connections use."""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Account:
    """A Unix account on the broker host, as the password database describes it."""

    name: str
    """Login name."""
    uid: int
    """User id."""
    gid: int
    """Primary group id."""
    groups: tuple[int, ...]
    """Supplementary group ids (the primary group included, as `id -G` shows them)."""
    home: str
    """Home directory (it may not exist: system accounts often have none)."""
    shell: str
    """Login shell."""
    group_names: tuple[str, ...] = ()
    """Names of ``groups``, where the group database has one."""


ROOT_EQUIVALENT_GROUPS = frozenset(
    ("root", "sudo", "wheel", "admin", "docker", "lxd", "incus-admin", "libvirt", "disk", "kmem")
)
"""Groups whose members can become root or read any file (raw disks, memory, containers)."""


def privileged_groups(account: Account) -> list[str]:
    """The groups of ``account`` that would let it past the broker's file permissions."""
    named = [g for g in account.group_names if g in ROOT_EQUIVALENT_GROUPS]
    return named + (["gid 0"] if 0 in account.groups and "root" not in named else [])


def _account(entry: pwd.struct_passwd) -> Account:
    try:
        groups = tuple(sorted(set(os.getgrouplist(entry.pw_name, entry.pw_gid))))
    except OSError:
        groups = (entry.pw_gid,)
    names = []
    for gid in groups:
        try:
            names.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return Account(
        name=entry.pw_name,
        uid=entry.pw_uid,
        gid=entry.pw_gid,
        groups=groups,
        home=entry.pw_dir,
        shell=entry.pw_shell or "/bin/sh",
        group_names=tuple(names),
    )


def lookup_account(name: str) -> Account | None:
    """The account called ``name`` on this host, or None if there is none."""
    try:
        return _account(pwd.getpwnam(name))
    except KeyError:
        return None


def broker_account() -> Account:
    """The account this process runs as (its effective uid)."""
    uid = os.geteuid()
    try:
        return _account(pwd.getpwuid(uid))
    except KeyError:
        return Account(str(uid), uid, os.getegid(), (os.getegid(),), "/", "/bin/sh")


@dataclass(frozen=True)
class Host:
    """What config validation needs to know about the host the broker runs on."""

    broker: Account
    """The account the broker runs as."""
    lookup: Callable[[str], Account | None]
    """Finds an account by name (None: no such account)."""

    @property
    def is_root(self) -> bool:
        """Whether the broker can change a child's user itself."""
        return self.broker.uid == 0

    @classmethod
    def current(cls) -> Host:
        """This host, as seen by this process."""
        return cls(broker=broker_account(), lookup=lookup_account)
