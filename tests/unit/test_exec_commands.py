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


@pytest.mark.parametrize(
    ("line", "verb", "name", "options"),
    [
        ("approvals", "approvals", "", ()),
        ("approve REQ-1", "approve", "REQ-1", ()),
        (
            "approve REQ-1 --comment 'looks fine'",
            "approve",
            "REQ-1",
            (("--comment", "looks fine"),),
        ),
        ("deny REQ-1 --comment=freeze", "deny", "REQ-1", (("--comment", "freeze"),)),
        ("run prod --reason 'INC 1' -- id", "run", "prod", (("--reason", "INC 1"),)),
        ("run --request REQ-9 prod -- id", "run", "prod", (("--request", "REQ-9"),)),
    ],
)
def test_approval_verbs_and_valued_options(
    line: str, verb: str, name: str, options: tuple[tuple[str, str], ...]
) -> None:
    request = parse_exec(line)
    assert (request.verb, request.connection, request.options) == (verb, name, options)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("deny REQ-1", "--comment TEXT is required"),
        ("deny REQ-1 --comment '  '", "--comment TEXT is required"),
        ("approve", "exactly one request id"),
        ("approve REQ-1 REQ-2", "exactly one request id"),
        ("approvals REQ-1", "takes no arguments"),
        ("run prod --reason", "--reason needs a value"),
        ("run prod --reason a --reason b -- id", "given twice"),
        ("approve REQ-1 --reason x", "unknown option"),
    ],
)
def test_approval_usage_errors(line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_exec(line)
