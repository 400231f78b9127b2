"""Parsing of what a client asks for after `ssh … gatehouse` (run, connect, sql, help)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from broker.common.errors import GatehouseError

USAGE = """\
usage (over ssh):
  ssh -p PORT USER@HOST                          open the Gatehouse interface
  ssh -p PORT USER@HOST connect CONN             straight into a terminal on CONN
  ssh -p PORT USER@HOST run CONN [--reason TEXT] [--no-wait] [--request ID] -- COMMAND...
                                                 run one command on CONN (exit 75 with
                                                 --no-wait: the request id is printed)
  ssh -p PORT USER@HOST sql CONN [--csv|--json] [--reason TEXT] [--no-wait] [--request ID] -- "SQL"
                                                 run SQL on CONN (stdin when none is given)
  ssh -p PORT USER@HOST list                     list the connections you may use
  ssh -p PORT USER@HOST approvals                pending requests you may decide
  ssh -p PORT USER@HOST approve ID [--comment TEXT]
  ssh -p PORT USER@HOST deny ID --comment TEXT
  ssh -p PORT USER@HOST grants                   grants in force that you may revoke
  ssh -p PORT USER@HOST revoke ID --comment TEXT end a grant now (its sessions are ended)
  ssh -p PORT USER@HOST help                     this text
"""
VERBS = (
    "run", "connect", "sql", "list", "help", "approvals", "approve", "deny", "grants", "revoke"
)  # fmt: skip
_FLAGS = {
    "run": ("--no-wait",),
    "sql": ("--csv", "--json", "--no-wait"),
    "connect": ("--no-wait",),
    "approve": (),
    "deny": (),
    "revoke": (),
}
_VALUED = {
    "run": ("--reason", "--request"),
    "sql": ("--reason", "--request"),
    "connect": ("--reason",),
    "approve": ("--comment",),
    "deny": ("--comment",),
    "revoke": ("--comment",),
}
"""Options that take a value (``--reason TEXT`` or ``--reason=TEXT``)."""


class UsageError(GatehouseError):
    """The client's command line is not one the broker understands."""


@dataclass(frozen=True)
class ExecRequest:
    """A parsed non-interactive request."""

    verb: str
    """One of run, connect, sql, list, help."""
    connection: str = ""
    """The connection name."""
    command: str = ""
    """The remote command (run) or SQL text (sql), verbatim after `--`; empty for sql: stdin."""
    flags: frozenset[str] = frozenset()
    """Options such as --no-wait, --csv, --json."""
    options: tuple[tuple[str, str], ...] = ()
    """Options with a value, such as (``--reason``, text)."""

    def option(self, name: str) -> str | None:
        """The value of option ``name``, or None if not given."""
        return next((value for key, value in self.options if key == name), None)


def parse_exec(line: str) -> ExecRequest:
    """Parse the SSH exec command line.

    Raises:
        UsageError: naming what is wrong, with the usage text.
    """
    line = line.strip()
    if len(line) > 256 * 1024:
        raise UsageError("command line too long")
    parts = re.split(r"(?:^|\s)--(?:\s|$)", line, maxsplit=1)
    head = parts[0]
    tail = parts[1].strip() if len(parts) == 2 else ""
    sep = len(parts) == 2
    try:
        words = shlex.split(head)
    except ValueError as exc:
        raise UsageError(f"cannot parse command line: {exc}") from None
    if not words:
        raise UsageError("empty command")
    verb, args = words[0], words[1:]
    if verb not in VERBS:
        raise UsageError(f"unknown command {verb!r}")
    if verb in ("help", "list", "approvals", "grants"):
        if args or sep:
            raise UsageError(f"{verb} takes no arguments")
        return ExecRequest(verb=verb)
    args, options = _take_options(verb, args)
    flags = frozenset(a for a in args if a.startswith("-"))
    names = [a for a in args if not a.startswith("-")]
    bad = flags - set(_FLAGS[verb])
    if bad:
        raise UsageError(f"{verb}: unknown option {sorted(bad)[0]}")
    if verb in ("approve", "deny", "revoke"):
        if len(names) != 1 or sep:
            raise UsageError(f"{verb}: expected exactly one request id")
        if verb != "approve" and not (dict(options).get("--comment") or "").strip():
            raise UsageError(f"{verb}: --comment TEXT is required (the requester is shown it)")
        return ExecRequest(verb=verb, connection=names[0], options=options)
    if len(names) != 1:
        raise UsageError(f"{verb}: expected exactly one connection name")
    if verb == "connect":
        if sep:
            raise UsageError("connect takes no command; use run CONN -- COMMAND")
        return ExecRequest(verb=verb, connection=names[0], flags=flags, options=options)
    if verb == "sql" and {"--csv", "--json"} <= flags:
        raise UsageError("sql: choose one of --csv or --json")
    if (not sep or not tail) and verb != "sql":  # sql without a statement reads stdin
        raise UsageError(f"{verb}: missing `-- COMMAND`")
    return ExecRequest(verb=verb, connection=names[0], command=tail, flags=flags, options=options)


def _take_options(verb: str, args: list[str]) -> tuple[list[str], tuple[tuple[str, str], ...]]:
    """Split ``--name VALUE`` / ``--name=VALUE`` options of ``verb`` from the other words."""
    valued = _VALUED.get(verb, ())
    rest: list[str] = []
    options: list[tuple[str, str]] = []
    words = iter(args)
    for word in words:
        name, eq, value = word.partition("=")
        if name not in valued:
            rest.append(word)
            continue
        if not eq:
            following = next(words, None)
            if following is None:
                raise UsageError(f"{verb}: {name} needs a value")
            value = following
        if any(key == name for key, _ in options):
            raise UsageError(f"{verb}: {name} given twice")
        options.append((name, value))
    return rest, tuple(options)
