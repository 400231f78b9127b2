"""SQL rules: parsing with file:line errors, and decisions that name their rule."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.common.errors import ConfigError
from broker.common.yamlsrc import parse_yaml
from broker.policy.loader import parse_policy
from broker.policy.sql import SqlRule, decide_sql
from broker.sql.classify import classify

POLICY = """\
sql:
  - {name: ddl-needs-approval, statements: [drop, alter, truncate], action: approval}
  - {name: no-unbounded-delete, statements: [delete, update], without_where: true, action: deny}
  - {name: dba-grants, statements: [dcl], groups: [dba], action: allow}
  - {name: no-grants, statements: [grant, revoke], action: deny}
"""


def _rules(text: str = POLICY) -> tuple[SqlRule, ...]:
    return parse_policy(parse_yaml(text, "p.yaml")).sql


def _decide(
    sql: str, *, read_only: bool = False, groups: tuple[str, ...] = ("dev",)
) -> tuple[str, str, str]:
    d = decide_sql(_rules(), classify(sql), groups=groups, connection="shop", read_only=read_only)
    return d.action, d.rule, d.reason


def test_rules_parse_into_frozen_rules() -> None:
    rules = _rules()
    assert [r.name for r in rules] == [
        "ddl-needs-approval",
        "no-unbounded-delete",
        "dba-grants",
        "no-grants",
    ]
    assert rules[1].without_where is True
    assert rules[1].statements == {"delete", "update"}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select * from t", ("allow", "no-sql-rule", "")),
        ("drop table t", ("approval", "ddl-needs-approval", "DROP")),
        ("delete from t", ("deny", "no-unbounded-delete", "DELETE without WHERE")),
        ("delete from t where id = 1", ("allow", "no-sql-rule", "")),
        (
            "with x as (update t set a = 1 returning *) select * from x",
            ("deny", "no-unbounded-delete", "SELECT without WHERE"),
        ),
        ("grant select on t to bob", ("deny", "no-grants", "GRANT")),
        (
            "select 1; truncate t; delete from t",
            ("deny", "no-unbounded-delete", "DELETE without WHERE"),
        ),
        ("select 1; truncate t", ("approval", "ddl-needs-approval", "TRUNCATE")),
    ],
)
def test_decisions_name_their_rule(sql: str, expected: tuple[str, str, str]) -> None:
    assert _decide(sql) == expected


def test_groups_limit_a_rule() -> None:
    assert _decide("grant select on t to bob", groups=("dba",))[:2] == ("allow", "dba-grants")


def test_classifier_refusals_come_before_rules() -> None:
    action, rule, reason = _decide("select pg_read_file('/etc/passwd')")
    assert (action, rule) == ("deny", "sql-classifier")
    assert "pg_read_file" in reason
    assert _decide("selec 1")[2].startswith("the statement does not parse: syntax error")


@pytest.mark.parametrize(
    "sql",
    [
        "insert into t values (1)",
        "set default_transaction_read_only = off",
        "begin read write",
        "commit",
        "select set_config('default_transaction_read_only', 'off', false)",
        "select * from t for update",
        "select 1; delete from t where id = 1",
    ],
)
def test_read_only_connection_refuses_all_but_reads(sql: str) -> None:
    action, rule, reason = _decide(sql, read_only=True)
    assert (action, rule) == ("deny", "read-only-connection")
    assert "read-only connection" in reason


def test_read_only_connection_allows_reads() -> None:
    assert _decide("select 1; show search_path", read_only=True)[0] == "allow"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("sql:\n  - {name: a, action: deny}\n", 2, "statements"),
        ("sql:\n  - {name: a, statements: [drop], action: maybe}\n", 2, "must be one of"),
        (
            "sql:\n  - {name: a, statements: [drop], without_where: true, action: deny}\n",
            2,
            "update and delete",
        ),
        ("sql:\n  - {name: a, statements: [drop], action: deny, colour: red}\n", 2, "unknown key"),
        (
            "sql:\n  - {name: a, statements: ['drop table'], action: deny}\n",
            2,
            "not a statement verb",
        ),
        ("sql: {name: a}\n", 1, "must be a list"),
        (
            "sql:\n  - {name: a, statements: [drop], action: deny}\n  - {name: a, statements: [alter], action: deny}\n",
            3,
            "duplicate rule name",
        ),
    ],
)
def test_bad_rules_name_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy(parse_yaml(text, "bad.yaml"))
    assert f"bad.yaml:{line}" in str(info.value)
    assert message in str(info.value)


SNIPPETS = [
    "select 1",
    "select * from t for update",
    "insert into t values (1)",
    "delete from t where id = 1",
    "set x = 1",
    "begin read write",
    "commit",
    "select set_config('a.b', 'c', false)",
    "show x",
    "explain analyze delete from t",
    "with d as (delete from t returning *) select * from d",
    "create table x (a int)",
    "grant select on t to u",
    "select nextval('s')",
    "vacuum t",
    "select pg_read_file('x')",
    "do $$ begin end $$",
    "selec 1",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SNIPPETS), min_size=1, max_size=5))
def test_read_only_allows_only_strings_of_reads(parts: list[str]) -> None:
    c = classify("; ".join(parts))
    d = decide_sql((), c, groups=("dev",), connection="shop", read_only=True)
    if d.allowed:
        assert c.error == ""
        assert {s.kind for s in c.statements} == {"read"}
        assert all(s.verbs <= {"select", "show", "explain"} for s in c.statements)


def test_approval_rules_take_the_approval_terms_of_command_rules() -> None:
    text = (
        "sql:\n  - {name: ddl, statements: [ddl], action: approval, approvers: [dba-leads],"
        " approvals: 2, grant: 30m, reason_required: false}\n"
    )
    (rule,) = _rules(text)
    assert (rule.approvers, rule.approvals, rule.grant_seconds, rule.reason_required) == (
        ("dba-leads",),
        2,
        1800,
        False,
    )
    with pytest.raises(ConfigError) as info:
        _rules("sql:\n  - {name: d, statements: [drop], action: deny, approvers: [x]}\n")
    assert "only applies when action is approval" in str(info.value)
