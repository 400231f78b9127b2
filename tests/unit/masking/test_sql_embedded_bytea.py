"""A bytea inside a composite row, an array or JSON is read by its bytes, as a bytea column is;
a column's name is shown masked."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.masking.engine import MaskingEngine
from broker.masking.policy import MaskingPolicy
from broker.masking.sqlcells import mask_page, shown_names

ENGINE = MaskingEngine(MaskingPolicy(), key=os.urandom(32))
SECRETS = ("ssn 536-22-8726", "card 4111 1111 1111 1111", "mail jane.roe@example.org")
FORMS = (
    '(1,"\\\\x{h}")',  # a composite row: the bytea's backslash doubled
    '{{"\\\\x{h}",NULL}}',  # an array
    '{{"b": "\\\\x{h}"}}',  # JSON
    "x \\x{h} y",  # text that holds a bytea's form
)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("secret", SECRETS)
def test_a_bytea_inside_a_value_is_masked_by_its_bytes(form: str, secret: str) -> None:
    hexed = secret.encode().hex()
    cell = form.format(h=hexed)
    [(masked,)], counts = mask_page(ENGINE, ["v"], [(cell,)])
    assert masked is not None
    assert hexed not in masked
    assert "[MASKED:" in masked
    assert sum(counts.values()) == 1


def test_a_bytea_column_is_counted_once_and_plain_hex_kept() -> None:
    cell = "\\x" + SECRETS[1].encode().hex()
    rows, counts = mask_page(ENGINE, ["b"], [(cell,), ("\\x00ff00ff",)])
    assert rows[1] == ("\\x00ff00ff",)
    assert counts.total() <= 1  # the column path (mask_columns with binary) reads its bytes


@settings(max_examples=200, deadline=None)
@given(
    secret=st.sampled_from(SECRETS),
    before=st.binary(max_size=12),
    after=st.binary(max_size=12),
    form=st.sampled_from(FORMS),
    newline=st.booleans(),
)
def test_no_embedded_secret_survives(
    secret: str, before: bytes, after: bytes, form: str, newline: bool
) -> None:
    raw = before + b" " + secret.encode() + b" " + after
    _, found = ENGINE.mask_bytes(raw)  # what a bytea column of these bytes would mask
    cell = form.format(h=raw.hex()) + ("\n" if newline else "")
    [(masked,)], counts = mask_page(ENGINE, ["v"], [(cell,)])
    assert masked is not None
    if found:
        assert raw.hex() not in masked
        assert counts.total() >= len(found)


@pytest.mark.parametrize(
    "name", ["4111 1111 1111 1111", "jane.roe@example.org", "AKIAQ7XJ2RDJ6NNDE4PL"]
)
def test_column_names_are_shown_masked(name: str) -> None:
    [shown] = shown_names(ENGINE, [name])
    assert name not in shown
    assert shown.startswith("[MASKED:")
    assert shown_names(None, [name]) == (name,)
    assert shown_names(ENGINE, ["id", "email"]) == ("id", "email")
