"""The SQL classifier: kinds, verbs, WHERE-less writes, escaping functions, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.sql.classify import classify

CASES = [
    # sql, summary, verbs of the first statement, without_where, refused
    ("select 1", "select:read", {"select"}, False, False),
    ("-- a comment\nSELECT /* x */ 1", "select:read", {"select"}, False, False),
    ('select "DROP" from "Weird ""table"""', "select:read", {"select"}, False, False),
    ("insert into t values (1)", "insert:write", {"insert"}, False, False),
    ("update t set a = 1", "update:write", {"update"}, True, False),
    ("update t set a = 1 where id = 2", "update:write", {"update"}, False, False),
    ("delete from t", "delete:write", {"delete"}, True, False),
    ("delete from t where true", "delete:write", {"delete"}, True, False),
    ("delete from t where id = 1", "delete:write", {"delete"}, False, False),
    ("delete from t where 1 = 1", "delete:write", {"delete"}, True, False),
    ("update t set a = 1 where true or 2 > 1", "update:write", {"update"}, True, False),
    ("delete from t where id in (select id from u)", "delete:write", {"delete"}, False, False),
    ("delete from t where current of c", "delete:write", {"delete"}, False, False),
    ("delete from t where flag", "delete:write", {"delete"}, False, False),
    (
        "with gone as (delete from t returning *) select * from gone",
        "select:write",
        {"select", "delete"},
        True,
        False,
    ),
    ("drop table t", "drop:ddl", {"drop"}, False, False),
    ("alter table t add column b int", "alter:ddl", {"alter"}, False, False),
    ("truncate t", "truncate:ddl", {"truncate"}, False, False),
    ("create table x (a int)", "create:ddl", {"create"}, False, False),
    ("select * into y from t", "create:ddl", {"create"}, False, False),
    ("grant select on t to bob", "grant:dcl", {"grant"}, False, False),
    ("revoke select on t from bob", "revoke:dcl", {"revoke"}, False, False),
    ("begin", "begin:transaction", {"begin"}, False, False),
    ("begin read write", "begin:transaction", {"begin"}, False, False),
    ("commit", "commit:transaction", {"commit"}, False, False),
    ("set default_transaction_read_only = off", "set:utility", {"set"}, False, False),
    ("show search_path", "show:read", {"show"}, False, False),
    ("vacuum t", "vacuum:utility", {"vacuum"}, False, False),
    ("select set_config('a.b', 'c', false)", "select:write", {"select"}, False, False),
    ("select pg_terminate_backend(1)", "select:write", {"select"}, False, False),
    ("select * from t for update", "select:write", {"select"}, False, False),
    ("explain select 1", "explain:read", {"explain"}, False, False),
    ("explain analyze delete from t", "explain:write", {"explain", "delete"}, True, False),
    ("copy t to stdout", "copy:read", {"copy"}, False, True),
    ("copy t from stdin", "copy:write", {"copy"}, False, True),
    ("copy t to program 'id'", "copy:utility", {"copy"}, False, True),
    ("copy t from '/etc/passwd'", "copy:utility", {"copy"}, False, True),
    ("do $$ begin perform 1; end $$", "do:utility", {"do"}, False, True),
    ("execute plan1", "execute:utility", {"execute"}, False, True),
    ("select pg_read_file('/etc/passwd')", "select:read", {"select"}, False, True),
    ("select pg_catalog.pg_read_binary_file('x')", "select:read", {"select"}, False, True),
    ("select * from pg_ls_dir('.')", "select:read", {"select"}, False, True),
    ("select lo_export(1, '/tmp/x')", "select:read", {"select"}, False, True),
    ("select lo_import('/etc/passwd')", "select:read", {"select"}, False, True),
    (
        "select * from dblink('h', 'delete from t') as x(a int)",
        "select:read",
        {"select"},
        False,
        True,
    ),
    ("select dblink_exec('h', 'drop table t')", "select:read", {"select"}, False, True),
    (
        "select query_to_xml('delete from t', true, true, '')",
        "select:read",
        {"select"},
        False,
        True,
    ),
]


@pytest.mark.parametrize(("sql", "summary", "verbs", "without_where", "refused"), CASES)
def test_classification(
    sql: str, summary: str, verbs: set[str], without_where: bool, refused: bool
) -> None:
    c = classify(sql)
    assert c.error == ""
    assert c.summary == summary
    assert c.statements[0].verbs == verbs
    assert c.statements[0].without_where is without_where
    assert bool(c.refusal) is refused


def test_several_statements_in_one_string_each_classified() -> None:
    c = classify("select 1; drop table t; update t set a=1")
    assert c.summary == "select:read; drop:ddl; update:write"
    assert [s.text for s in c.statements] == ["select 1", "drop table t", "update t set a=1"]
    assert c.kinds == {"read", "ddl", "write"}


def test_refusal_names_the_escaping_function() -> None:
    assert "pg_read_file" in classify("select pg_read_file('x')").refusal
    assert "DO block" in classify("select 1; do $$ begin end $$").refusal


def test_unparseable_statement_carries_pglasts_message() -> None:
    c = classify("selec * from t")
    assert c.statements == ()
    assert c.error == 'syntax error at or near "selec" (at character 1)'
    assert c.refusal.startswith("the statement does not parse: syntax error")


@pytest.mark.parametrize(
    "sql",
    [
        " union ".join(["select 1"] * 20000),  # crashed the process inside pglast before the cap
        "select " + " + ".join(["1"] * 50000),
        "select 1" + "::int" * 50000,
    ],
)
def test_chains_deep_enough_to_overflow_the_parser_are_refused(sql: str) -> None:
    assert classify(sql).error == "a statement has more than 5000 operators and keywords"


def test_the_cap_counts_per_statement() -> None:
    sql = "; ".join(["select 1 + 1 + 1"] * 3000)
    c = classify(sql)
    assert c.error == ""
    assert len(c.statements) == 3000


@pytest.mark.parametrize("sql", ["select 1\x00; drop table t", "\x00", "select '\x00'"])
def test_a_nul_is_refused_before_the_parser_cuts_the_text_at_it(sql: str) -> None:
    c = classify(sql)
    assert c.statements == ()
    assert c.refusal.startswith("the statement does not parse: the statement holds a NUL")
    assert f"(at character {sql.index(chr(0)) + 1})" in c.error


def test_empty_string_is_refused() -> None:
    assert classify("  -- nothing\n").refusal == "no statement given"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_classifier_never_crashes_on_arbitrary_text(text: str) -> None:
    c = classify(text)
    assert c.error or c.statements or c.refusal


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["select", "delete", "from", "t", "where", ";", "(", ")", "with", "as", "$$", "'", "1"]
        ),
        max_size=20,
    )
)
def test_classifier_never_crashes_on_sql_like_tokens(words: list[str]) -> None:
    classify(" ".join(words))
