"""Parsing of `ssh gatehouse run|connect|sql|list|help …`."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.frontdoor.commands import UsageError, parse_exec


@pytest.mark.parametrize(
    ("line", "verb", "conn", "command", "flags"),
    [
        ("run web-1 -- echo hi", "run", "web-1", "echo hi", set()),
        ("run web-1 -- echo -- x", "run", "web-1", "echo -- x", set()),
        ("run web-1 --no-wait -- ls -la", "run", "web-1", "ls -la", {"--no-wait"}),
        ("connect shell", "connect", "shell", "", set()),
        ("sql db --csv -- select 1", "sql", "db", "select 1", {"--csv"}),
        ("sql db --json", "sql", "db", "", {"--json"}),
        ("sql db --", "sql", "db", "", set()),
        ("list", "list", "", "", set()),
        ("help", "help", "", "", set()),
        ("  run   a   --   x  ", "run", "a", "x", set()),
    ],
)
def test_parse(line: str, verb: str, conn: str, command: str, flags: set[str]) -> None:
    req = parse_exec(line)
    assert (req.verb, req.connection, req.command, set(req.flags)) == (verb, conn, command, flags)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "empty"),
        ("rm -rf /", "unknown command"),
        ("run web-1", "missing `-- COMMAND`"),
        ("run web-1 --", "missing"),
        ("run -- ls", "exactly one connection"),
        ("run a b -- ls", "exactly one connection"),
        ("run a --force -- ls", "unknown option --force"),
        ("connect", "exactly one connection"),
        ("connect a -- ls", "takes no command"),
        ("sql db --csv --json -- select 1", "one of --csv or --json"),
        ("list x", "takes no arguments"),
        ("run 'unterminated -- ls", "cannot parse"),
    ],
)
def test_errors(line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_exec(line)


@given(st.text(max_size=200))
def test_never_crashes(line: str) -> None:
    with contextlib.suppress(UsageError):
        assert parse_exec(line).verb in ("run", "connect", "sql", "list", "help")
