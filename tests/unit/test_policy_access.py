"""Access and command rules: first match wins, default deny, the deciding rule is named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.common.errors import ConfigError
from broker.policy.access import DEFAULT_DENY, AccessRule, decide_access
from broker.policy.commands import CommandRule, decide_command
from broker.policy.loader import load_policies, parse_duration

RULES = (
    AccessRule("deny-contractors-prod", ("contractors",), ("prod-*",), "deny"),
    AccessRule("eng-staging", ("engineers",), ("web-*", "shell"), "allow"),
    AccessRule("eng-prod", ("engineers",), ("prod-*",), "approval", ("approvers",), 2, 1800),
    AccessRule("everyone-docs", ("*",), ("docs",), "allow"),
)


@pytest.mark.parametrize(
    ("groups", "conn", "action", "rule"),
    [
        (("engineers",), "web-1", "allow", "eng-staging"),
        (("engineers",), "shell", "allow", "eng-staging"),
        (("engineers",), "prod-db", "approval", "eng-prod"),
        (("engineers", "contractors"), "prod-db", "deny", "deny-contractors-prod"),
        (("contractors",), "web-1", "deny", DEFAULT_DENY),
        ((), "web-1", "deny", DEFAULT_DENY),
        ((), "docs", "allow", "everyone-docs"),
        (("engineers",), "WEB-1", "deny", DEFAULT_DENY),
        (("engineers",), "web", "deny", DEFAULT_DENY),
        (("Engineers",), "web-1", "deny", DEFAULT_DENY),
    ],
)
def test_decide_access(groups: tuple[str, ...], conn: str, action: str, rule: str) -> None:
    decision = decide_access(RULES, groups, conn)
    assert (decision.action, decision.rule) == (action, rule)


def test_approval_carries_approvers_and_grant() -> None:
    decision = decide_access(RULES, ("engineers",), "prod-x")
    assert decision.approvers == ("approvers",)
    assert decision.approvals == 2
    assert decision.grant_seconds == 1800
    assert not decision.allowed


@given(st.lists(st.text(max_size=8), max_size=4), st.text(max_size=12))
def test_no_rules_means_deny(groups: list[str], conn: str) -> None:
    assert decide_access((), groups, conn).rule == DEFAULT_DENY


def test_command_rules() -> None:
    rules = (CommandRule("no-rm-root", re.compile(r"rm\s+-rf\s+/(\s|$)"), "deny"),)
    assert decide_command(rules, ("x",), "web-1", "rm -rf /").action == "deny"
    assert decide_command(rules, ("x",), "web-1", "rm -rf /tmp/x").action == "allow"
    assert decide_command(rules, ("x",), "web-1", "ls").rule == "no-command-rule"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("1h", 3600),
        ("2d", 172800),
        (90, 90),
        ("0h", None),
        ("1w", None),
        ("h", None),
        ("-1h", None),
        (True, None),
    ],
)
def test_parse_duration(text: object, seconds: int | None) -> None:
    assert parse_duration(text) == seconds


POLICY = """\
access:
  - {name: a, groups: [engineers], connections: ["web-*"], action: allow}
  - {name: b, groups: [engineers], connections: ["prod-*"], action: approval,
     approvers: [approvers], grant: 30m}
commands:
  - {name: c, match: 'rm\\s+-rf', action: deny}
masking:
  detectors: {enable: all}
"""


def test_policy_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY)
    policies = load_policies([path])
    assert [r.name for r in policies.access] == ["a", "b"]
    assert policies.access[1].grant_seconds == 1800
    assert policies.commands[0].pattern.search("rm -rf x")
    assert len(policies.masking) == 1


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "message"),
    [
        ("action: allow", "action: permit", 2, "access.0.action", "allow, approval, deny"),
        ("name: a,", "", 2, "access.0.name", "required"),
        ('connections: ["web-*"], ', "", 2, "access.0.connections", "required"),
        ("grant: 30m", "grant: 30m, reason_required: maybe", 4, "access.1.reason_required", ""),
        ("action: allow}", "action: allow, approvals: 2}", 2, "access.0.approvals", "only applies"),
        (
            "approvers: [approvers]",
            "approvers: [approvers], approvals: 0",
            4,
            "access.1.approvals",
            "",
        ),
        ("grant: 30m", "grant: soon", 4, "access.1.grant", "duration"),
        ("match: 'rm\\s+-rf'", "match: 'rm(('", 6, "commands.0.match", "invalid regex"),
        ("name: b,", "name: a,", 3, "access.1.name", "duplicate"),
        ("commands:", "comands:", 5, "comands", "unknown key"),
        ("action: allow}", "action: allow, when: never}", 2, "access.0.when", "unknown key"),
    ],
)
def test_policy_errors(
    tmp_path: Path, old: str, new: str, line: int, key: str, message: str
) -> None:
    assert old in POLICY
    path = tmp_path / "p.yaml"
    path.write_text(POLICY.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_policies([path])
    assert (info.value.file, info.value.line, info.value.key) == (str(path), line, key)
    assert message in info.value.message


def test_approval_rule_terms_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "access:\n"
        "  - {name: p, connections: [prod-1], action: approval}\n"
        "  - {name: q, connections: [prod-2], action: approval, approvers: [dba, sre],\n"
        "     approvals: 2, grant: 15m, reason_required: false}\n"
        "commands:\n"
        "  - {name: c, argv: [[systemctl, restart, '*']], action: approval, approvers: [sre]}\n"
        "  - {name: d, match: reboot, action: approval, approvals: 2, grant: 5m}\n"
    )
    access = load_policies([path]).access
    assert (access[0].approvers, access[0].approvals, access[0].grant_seconds) == (
        (),  # the approvers role, resolved when deciding
        1,
        3600,
    )
    assert access[0].reason_required
    assert (access[1].approvers, access[1].approvals, access[1].grant_seconds) == (
        ("dba", "sre"),
        2,
        900,
    )
    assert not access[1].reason_required
    commands = load_policies([path]).commands
    assert (commands[0].approvers, commands[0].approvals) == (("sre",), 1)
    assert (commands[1].approvers, commands[1].approvals, commands[1].grant_seconds) == (
        (),
        2,
        300,
    )


@pytest.mark.parametrize(
    ("rule", "key", "message"),
    [
        ("{name: x, match: a, action: deny, approvers: [sre]}", "approvers", "only applies"),
        ("{name: x, match: a, action: approval, grant: never}", "grant", "duration"),
        ("{name: x, match: a, action: approval, approvals: 11}", "approvals", ""),
        ("{name: x, match: a, action: approval, reason_required: 3}", "reason_required", ""),
    ],
)
def test_command_approval_terms_errors_name_the_line(
    tmp_path: Path, rule: str, key: str, message: str
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(f"# policy\ncommands:\n  - {rule}\n")
    with pytest.raises(ConfigError) as info:
        load_policies([path])
    assert (info.value.line, info.value.key) == (3, f"commands.0.{key}")
    assert message in info.value.message


def test_shipped_policies_load() -> None:
    files = sorted(Path("policies").glob("*.yaml"))
    assert files
    policies = load_policies(files)
    assert policies.access
