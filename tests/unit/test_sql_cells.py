"""Masking a page of cells a column at a time gives what masking each cell alone gives."""

from __future__ import annotations

import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.masking.builtin import BUILTIN_DETECTORS
from broker.masking.detector import Detector
from broker.masking.engine import MaskingEngine
from broker.masking.policy import ColumnRule, MaskingPolicy
from broker.masking.sqlcells import (
    SHORT_NUMBER,
    Scan,
    has_long_line,
    mask_columns,
    mask_page,
    rule_names,
    scanned_columns,
)
from tests.harness.pii import fake_customers

ENGINE = MaskingEngine(
    MaskingPolicy(columns=(ColumnRule(re.compile("(?i)^ssn$"), "redact"),)), key=os.urandom(32)
)
COLUMNS = ("id", "name", "email", "ssn", "card_number", "iban", "phone", "note")
CUSTOMERS = fake_customers(40)
KEY = os.urandom(32)
PIECES = [
    *(c.email for c in CUSTOMERS[:5]),
    *(c.card_number for c in CUSTOMERS[:5]),
    *(c.iban for c in CUSTOMERS[:5]),
    *(c.phone for c in CUSTOMERS[:5]),
    "SSN:",
    "123-45-6789",
    "plain",
    "4111",
    "1111 1111 1111",
    "",
    " ",
    "{",
    '"',
    ",",
    "\n",
    "AKIA",
    "password=",
]


def one_by_one(
    columns: tuple[str, ...], rows: list[tuple[str | None, ...]]
) -> tuple[list[tuple[str | None, ...]], dict[str, int]]:
    counts: dict[str, int] = {}
    out = []
    for row in rows:
        cells = []
        for name, cell in zip(columns, row, strict=True):
            value, events = ENGINE.mask_value(name, cell)
            for event in events:
                counts[event.detector] = counts.get(event.detector, 0) + 1
            cells.append(None if value is None else str(value))
        out.append(tuple(cells))
    return out, counts


def test_fake_customers_mask_as_cell_by_cell() -> None:
    rows = [
        (
            str(c.id),
            c.name,
            c.email,
            c.ssn,
            c.card_number,
            c.iban,
            c.phone,
            f"mail {c.email}, card {c.card_number}",
        )
        for c in CUSTOMERS
    ]
    masked, counts = mask_page(ENGINE, COLUMNS, rows)
    expected, expected_counts = one_by_one(COLUMNS, rows)
    assert masked == expected
    assert dict(counts) == expected_counts
    assert counts["column"] == len(CUSTOMERS)
    for c in CUSTOMERS:
        assert c.email not in repr(masked)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.lists(st.sampled_from(PIECES), max_size=4).map("".join)),
            st.one_of(st.none(), st.lists(st.sampled_from(PIECES), max_size=4).map(" ".join)),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_any_page_masks_as_cell_by_cell(rows: list[tuple[str | None, str | None]]) -> None:
    columns = ("a", "b")
    masked, counts = mask_page(ENGINE, columns, rows)
    expected, expected_counts = one_by_one(columns, rows)
    assert masked == expected
    assert dict(counts) == expected_counts


@settings(max_examples=500)
@given(
    st.one_of(
        st.booleans().map(lambda b: "t" if b else "f"),
        st.integers(min_value=-32768, max_value=32767).map(str),
        st.datetimes().map(lambda d: d.isoformat(sep=" ") + "+00"),
        st.dates().map(str),
        st.times().map(str),
        st.timedeltas().map(lambda d: f"{d.days} days {d.seconds // 3600:02d}:00:00"),
    )
)
def test_types_left_unscanned_hold_nothing_a_builtin_detector_masks(value: str) -> None:
    """The types ``scanned_columns`` skips: their text, alone or joined, is never masked."""
    engine = MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS), key=KEY)
    text = "\n".join([value] * 3)
    assert engine.mask_text(text)[1] == []


def test_a_custom_detector_scans_every_type() -> None:
    custom = Detector(name="dob", regex=re.compile(rb"\b19\d\d-\d\d-\d\d\b"), category="pii")
    engine = MaskingEngine(MaskingPolicy(detectors=(*BUILTIN_DETECTORS, custom)), key=KEY)
    assert scanned_columns(engine, ("date", "text", "int4")) == (Scan.ALL,) * 3
    builtin = MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS), key=KEY)
    assert scanned_columns(builtin, ("date", "text", "int4", "uuid")) == (
        Scan.NONE,
        Scan.ALL,
        Scan.LONG,
        Scan.ALL,
    )
    rows = [("1970-01-02", "x")]
    masked, counts = mask_page(
        engine, ("born", "note"), rows, scanned_columns(engine, ("date", "text"))
    )
    assert masked[0][0] != "1970-01-02"
    assert counts["dob"] == 1


# Numbers as PostgreSQL prints int4, int8, oid, numeric, float4 and float8 (shortest float text,
# exponent with a sign and at least two digits).
NUMBER_TEXT = st.one_of(
    st.integers(min_value=-(10**7) + 1, max_value=10**8 - 1).map(str),
    st.from_regex(r"-?[0-9]{1,8}\.[0-9]{1,7}", fullmatch=True),
    st.from_regex(r"-?[0-9](\.[0-9]{1,3})?e[+-][0-9]{2,3}", fullmatch=True),
    st.sampled_from(["NaN", "Infinity", "-0", "0.00"]),
).filter(lambda text: len(text) <= SHORT_NUMBER)


@settings(max_examples=500)
@given(st.lists(NUMBER_TEXT, min_size=1, max_size=8))
def test_short_numbers_hold_nothing_a_builtin_detector_masks(cells: list[str]) -> None:
    """Why a page of a number column whose cells are all short is not scanned."""
    engine = MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS), key=KEY)
    assert engine.mask_text("\n".join(cells))[1] == []


def test_a_long_number_in_a_number_column_is_masked() -> None:
    """One cell longer than SHORT_NUMBER and the page of the int4 column is scanned: a bare
    routing number among short ids, a card number in an int8 column."""
    engine = MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS), key=KEY)
    assert len("111000025") == SHORT_NUMBER + 1  # the bound is tight
    card = CUSTOMERS[0].card_number.replace(" ", "").replace("-", "")
    ids = ["1", None, "111000025", "7"]
    cards = ["42", card, None, "-3"]
    scanned = scanned_columns(engine, ("int4", "int8", "int4"))
    masked, counts = mask_columns(
        engine, ("id", "card", "small"), [ids, cards, ["1", "22", None, "4"]], scanned
    )
    assert masked[0] == ["1", None, "[MASKED:aba_routing]", "7"]
    assert masked[1] == ["42", "[MASKED:credit_card]", None, "-3"]
    assert masked[2] == ["1", "22", None, "4"]
    assert counts == {"aba_routing": 1, "credit_card": 1}


@given(st.lists(st.text(alphabet="0123456789.-e+\u00e9", max_size=12), min_size=1, max_size=6))
def test_the_long_line_finder_agrees_with_splitting(cells: list[str]) -> None:
    """The Hyperscan pass that tells a page of short numbers answers as splitting does."""
    data = "\n".join(cells).encode()
    assert has_long_line(data) == any(len(line) > SHORT_NUMBER for line in data.split(b"\n"))


def test_a_whole_row_column_is_masked_whole_under_column_rules() -> None:
    """``row_to_json(t)`` shows the ssn without its name: with column rules the cell goes whole."""
    sql = "select id, row_to_json(t)::text from t"
    names = rule_names(ENGINE, sql, ["id", "row_to_json"])
    row = '{"id":1,"ssn":"not-a-detectable-value"}'
    masked, counts = mask_columns(ENGINE, names, [["1", "2"], [row, None]])
    assert masked == [["1", "2"], ["[MASKED:column]", None]]
    assert counts["column"] == 1
    plain = MaskingEngine(MaskingPolicy(), key=KEY)
    assert rule_names(plain, sql, ["id", "row_to_json"]) == ("id", "row_to_json")
