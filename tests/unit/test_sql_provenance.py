"""Result columns renamed from a column that a column-name rule protects get its name."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.sql.provenance import WHOLE_ROW, source_names

RULE = re.compile(r"(?i)diagnosis|ssn")


def protected(name: str) -> bool:
    return bool(RULE.search(name))


@pytest.mark.parametrize(
    ("sql", "names", "expected"),
    [
        ("select diagnosis as x from t", ["x"], ["diagnosis"]),
        ("select diagnosis || '' from t", ["?column?"], ["diagnosis"]),
        ("select upper(ssn), ssn::text, id from t", ["upper", "ssn", "id"], ["ssn", "ssn", "id"]),
        ("select * from (select diagnosis as x, id from t) s", ["x", "id"], ["diagnosis", "id"]),
        ("select * from (select diagnosis, id from t) s(a, b)", ["a", "b"], ["diagnosis", "b"]),
        ("with w(a) as (select ssn from t) select a as z from w", ["z"], ["ssn"]),
        ("with w as (select ssn as q from t) select q::text from w", ["q"], ["ssn"]),
        ("select id from t union all select diagnosis from t", ["id"], ["diagnosis"]),
        ("select (select diagnosis as k from t limit 1)", ["k"], ["diagnosis"]),
        ("select coalesce(ssn, '') from t", ["coalesce"], ["ssn"]),
        ("select case when true then ssn end from t", ["case"], ["ssn"]),
        ("select substr(ssn, 1, 3) a, substr(ssn, 4) b from t", ["a", "b"], ["ssn", "ssn"]),
        ("insert into t values (1) returning ssn as x", ["x"], ["ssn"]),
        ("select id, name from t where ssn = 'x'", ["id", "name"], ["id", "name"]),
        ("select count(*) from t group by ssn", ["count"], ["count"]),
        ("select id as ssn_copy from t", ["ssn_copy"], ["ssn_copy"]),
        ("selec x", ["x"], ["x"]),
    ],
)
def test_renamed_columns_keep_their_source(sql: str, names: list[str], expected: list[str]) -> None:
    assert source_names(sql, names, protected) == tuple(expected)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.lists(st.text(max_size=10), max_size=4))
def test_any_text_gives_names_and_never_raises(sql: str, names: list[str]) -> None:
    assert len(source_names(sql, names, protected)) == len(names)


@pytest.mark.parametrize(
    ("sql", "names", "expected"),
    [
        ("select row_to_json(m)::text from s.t m", ["row_to_json"], [WHOLE_ROW]),
        ("select m from s.t m", ["m"], [WHOLE_ROW]),
        ("select t from t", ["t"], [WHOLE_ROW]),
        ("select to_jsonb(m.*), id from t m", ["to_jsonb", "id"], [WHOLE_ROW, "id"]),
        ("select j as k from (select row_to_json(t) j from t) s", ["k"], [WHOLE_ROW]),
        ("with w as (select 1 a) select w::text from w", ["w"], [WHOLE_ROW]),
        ("select (select t from t limit 1) as r", ["r"], [WHOLE_ROW]),
        ("select m.* from t m", ["id", "name"], ["id", "name"]),
        ("select * from t", ["id", "name"], ["id", "name"]),
        ("select count(*) from t", ["count"], ["count"]),
    ],
)
def test_whole_row_values_are_named_whole_row(
    sql: str, names: list[str], expected: list[str]
) -> None:
    """A row's values shown without their names: which a rule protects cannot be told, so the
    column is named WHOLE_ROW and masked whole (fail closed)."""
    assert source_names(sql, names, protected) == tuple(expected)
