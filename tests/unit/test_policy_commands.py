"""Command rules on a shell parse: every known way around them is refused, naming the reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from broker.policy.access import Decision
from broker.policy.commands import (
    NO_COMMAND_RULE,
    UNDECIDABLE,
    CommandRule,
    argv_match,
    decide_command,
    describe,
)
from broker.policy.loader import PolicySet, load_policies
from tests.support.bypasses import ALLOWED, BYPASSES, POLICY, Attempt


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> PolicySet:
    path = tmp_path_factory.mktemp("p") / "rules.yaml"
    path.write_text(POLICY)
    return load_policies([path])


def decide(policies: PolicySet, command: str, *, strict: bool = True) -> Decision:
    return decide_command(
        policies.commands, ("engineers",), "web-1", command, policies.interpreters, strict=strict
    )


@pytest.mark.parametrize("attempt", BYPASSES, ids=[repr(a.command) for a in BYPASSES])
def test_bypass_is_refused_with_reason(policies: PolicySet, attempt: Attempt) -> None:
    verdict = decide(policies, attempt.command)
    expected = "approval" if attempt.rule == "passwd-needs-approval" else "deny"
    assert (verdict.action, verdict.rule) == (expected, attempt.rule), verdict
    assert attempt.says in describe(verdict)


@pytest.mark.parametrize("command", ALLOWED)
def test_ordinary_commands_pass(policies: PolicySet, command: str) -> None:
    verdict = decide(policies, command)
    assert (verdict.action, verdict.rule) == ("allow", NO_COMMAND_RULE)


def test_no_rules_means_no_parse() -> None:
    """A connection without command rules runs anything, even what cannot be parsed."""
    verdict = decide_command((), ("engineers",), "web-1", "cat <<EOF\n$(id)\nEOF")
    assert (verdict.action, verdict.rule) == ("allow", NO_COMMAND_RULE)


def test_rules_of_other_groups_and_connections_do_not_apply() -> None:
    rules = (CommandRule("ops-only", re.compile("x"), "deny", ("ops",), ("prod-*",)),)
    assert decide_command(rules, ("engineers",), "prod-1", "bash").action == "allow"
    assert decide_command(rules, ("ops",), "web-1", "bash").action == "allow"
    assert decide_command(rules, ("ops",), "prod-1", "bash").rule == UNDECIDABLE


def test_legacy_regex_rule_now_judges_each_simple_command() -> None:
    rules = (CommandRule("no-rm-root", re.compile(r"^rm\s+-rf\s+/(\s|$)"), "deny"),)
    assert decide_command(rules, (), "web-1", "rm -rf /").action == "deny"
    assert decide_command(rules, (), "web-1", "id; rm -rf '/'").action == "deny"
    assert decide_command(rules, (), "web-1", "echo rm -rf /").action == "allow"
    assert decide_command(rules, (), "web-1", "rm -rf /tmp/x").rule == NO_COMMAND_RULE


ALLOW_LIST = (
    CommandRule(
        "web-readonly",
        None,
        "deny",
        allow=(
            ("systemctl", "status", "*"),
            ("journalctl", "-u", "*", "**"),
            ("ls", "**"),
            ("bash", "-c", "*"),
        ),
    ),
)


@pytest.mark.parametrize(
    ("command", "action", "why"),
    [
        ("systemctl status nginx", "allow", ""),
        ("systemctl status nginx; ls -la /srv", "allow", ""),
        ("journalctl -u nginx --since today", "allow", ""),
        ("systemctl stop nginx", "deny", "not on the allow list"),
        ("systemctl status nginx sshd", "deny", "not on the allow list"),
        ("systemctl status nginx && cat /etc/shadow", "deny", "not on the allow list"),
        ("./ls", "deny", "not on the allow list"),
        ("/usr/bin/systemctl status nginx", "deny", "not on the allow list"),
        ("systemctl status $UNIT", "deny", "cannot be decided"),
        ("ls *", "deny", "cannot be decided"),
        ("sudo systemctl status nginx", "deny", "not on the allow list"),
        ("ls $(cat /etc/shadow)", "deny", "not on the allow list"),
        ("bash -c 'systemctl status nginx'", "allow", ""),
        ("bash -c 'systemctl stop nginx'", "deny", "not on the allow list"),
    ],
)
def test_allow_list(command: str, action: str, why: str) -> None:
    verdict = decide_command(ALLOW_LIST, (), "web-1", command)
    assert verdict.action == action, verdict
    assert why in verdict.reason


@pytest.mark.parametrize(
    ("pattern", "argv", "lenient", "matches"),
    [
        (("rm", "**", "-*r*", "**", "/", "**"), ("rm", "-f", "-r", "/"), True, True),
        (("rm", "**", "-*r*", "**", "/", "**"), ("rm", "-rf", "/tmp", "/"), True, True),
        (("rm", "**", "-*r*", "**", "/", "**"), ("rm", "-f", "/"), True, False),
        (("rm", "**"), ("/bin/rm", "x"), True, True),
        (("rm", "**"), ("/bin/rm", "x"), False, False),
        (("ls",), ("ls",), False, True),
        (("ls",), ("ls", "-l"), False, False),
        (("ls", "*"), ("ls",), False, False),
        (("ls", "**", "**"), ("ls",), False, True),
        ((), ("ls",), True, False),
    ],
)
def test_argv_match(
    pattern: tuple[str, ...], argv: tuple[str, ...], lenient: bool, matches: bool
) -> None:
    assert argv_match(pattern, argv, lenient=lenient) is matches


@pytest.mark.parametrize(
    ("line", "action"),
    [
        ("cat ~/secret.txt", "deny"),
        ("sudo id", "deny"),
        ("cat ~/secret.tx?", "allow"),
        ("y", "allow"),
        ("if (x) {", "allow"),
        ("python3", "allow"),
        ("p4$$word", "allow"),
        ("echo secret.txt )", "deny"),
    ],
)
def test_terminal_lines_are_judged_on_text_not_refused_for_syntax(
    policies: PolicySet, line: str, action: str
) -> None:
    """A terminal line may be input to a prompt or an editor: input-layer protection only."""
    assert decide(policies, line, strict=False).action == action


def test_terminal_lines_skip_allow_lists() -> None:
    verdict = decide_command(ALLOW_LIST, (), "web-1", "y", strict=False)
    assert verdict.action == "allow"


INTERPRETERS = """\
access:
  - {name: all, groups: ["*"], connections: ["*"], action: allow}
commands:
  - {name: no-secret, match: 'secret', action: deny}
interpreters: [ruby]
"""


def test_interpreter_list_is_policy(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(INTERPRETERS)
    policies = load_policies([path])
    assert policies.interpreters == ("ruby",)
    assert decide(policies, "python3 -c 'print(1)'").action == "allow"
    assert decide(policies, "ruby -e 'puts 1'").rule == UNDECIDABLE
    assert decide(policies, "bash -c id").action == "allow"


def test_interpreters_default_to_the_builtin_list(policies: PolicySet) -> None:
    assert policies.interpreters is None
    assert decide(policies, "perl -e 1").rule == UNDECIDABLE


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{name: x, action: deny}", "exactly one of match"),
        ("{name: x, match: a, argv: [[b]], action: deny}", "exactly one of match"),
        ("{name: x, argv: [b], action: deny}", "list of argv patterns"),
        ("{name: x, argv: [], action: deny}", "list of argv patterns"),
        ('{name: x, argv: [["**", a]], action: deny}', "cannot be **"),
        ("{name: x, allow: [[a]], action: allow}", "must be deny or approval"),
        ("{name: x, argv: [[a, 1]], action: deny}", "list of argv patterns"),
        ("{name: x, deny: [[a]], action: approval}", "a deny list denies"),
        ("{name: x, argv: [[a]]}", "required"),
    ],
)
def test_bad_command_rules_name_the_key(tmp_path: Path, rule: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(f"commands:\n  - {rule}\n")
    with pytest.raises(Exception, match=re.escape(message)) as info:
        load_policies([path])
    assert "p.yaml:2" in str(info.value)


def test_deny_list_is_an_argv_rule_that_denies(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("commands:\n  - {name: no-dd, deny: [[dd, '**'], [shred, '**']]}\n")
    (rule,) = load_policies([path]).commands
    assert (rule.action, rule.argv) == ("deny", (("dd", "**"), ("shred", "**")))
    assert decide_command((rule,), (), "c", "id && /bin/shred x").rule == "no-dd"


def test_allow_list_defaults_to_deny(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("commands:\n  - {name: ro, allow: [[ls, '**']]}\n")
    (rule,) = load_policies([path]).commands
    assert (rule.action, rule.allow) == ("deny", (("ls", "**"),))


def test_long_lines(policies: PolicySet) -> None:
    """Over 16 KiB a `run` line is refused; a long terminal line is judged on its text, unparsed."""
    assert decide(policies, "id " + "a" * 17_000).rule == UNDECIDABLE
    assert "longer than" in decide(policies, "id " + "a" * 17_000).reason
    assert decide(policies, "cat ~/secret.txt " + "a;" * 600, strict=False).action == "deny"
    assert decide(policies, "ls " + "a;" * 600, strict=False).action == "allow"


def test_allowing_rule_is_named() -> None:
    verdict = decide_command(ALLOW_LIST, (), "web-1", "ls; systemctl status nginx")
    assert (verdict.action, verdict.rule) == ("allow", "web-readonly")
