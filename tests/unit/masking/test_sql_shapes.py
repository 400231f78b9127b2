"""A cell that is one e-mail address is masked by ``mask_emails`` exactly as the engine masks it."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from broker.masking.builtin import BUILTIN_DETECTORS
from broker.masking.detector import Detector
from broker.masking.engine import MaskingEngine
from broker.masking.policy import MaskingPolicy, Strategy
from broker.masking.sqlcells import mask_page
from broker.masking.sqlshapes import EMAIL_CELL, EMAIL_COLUMN, email_applies, mask_emails
from tests.unit.masking.masking_samples import VALID

KEY = os.urandom(32)
STRATEGIES: tuple[Strategy, ...] = ("redact", "partial", "hash")
ENGINES = {
    s: MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS, default_strategy=s), key=KEY)
    for s in STRATEGIES
}
LOCAL = "ABCXYZabcxyz0123456789._%+-"
# Other detectors' values as local parts and labels: cards, IBANs, tokens, keys, numbers.
SAMPLES = [text for values in VALID.values() for text, _ in values]
PIECES = st.sampled_from(
    [
        *(s for s in SAMPLES if len(s) < 70),
        "git",
        "noreply",
        "GIT",
        "NoReply",
        "github",
        "gitlab",
        "bitbucket",
        "com",
        "org",
        "xn--",
        "4111111111111111",
        "AKIA",
        "sk_live_",
        "+4915112345678",
        "123-45-6789",
        "eyJ",
    ]
)
WORD = st.one_of(
    st.text(LOCAL, min_size=1, max_size=70),
    PIECES.map(lambda s: re.sub(r"[^A-Za-z0-9._%+\-]", "", s) or "x"),
)
LABEL = st.one_of(
    st.text("abcXYZ019-", min_size=1, max_size=66),
    st.sampled_from(["github", "gitlab", "bitbucket", "example", "xn--bcher-kva", "a" * 63]),
)
TLD = st.one_of(
    st.text("abcXYZ", min_size=1, max_size=66), st.sampled_from(["com", "org", "COM", "x" * 63])
)
ADDRESS = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
    WORD,
    st.lists(LABEL, min_size=1, max_size=3),
    TLD,
)
HOSTILE = st.one_of(
    ADDRESS,
    st.builds("".join, st.lists(st.one_of(PIECES, st.sampled_from("@.-+_ :=/")), max_size=8)),
    st.text(LOCAL + "@:=/ \t'\"", max_size=40),
)


def engine_alone(engine: MaskingEngine, cell: str) -> tuple[str, list[str]]:
    value, events = engine.mask_value("c", cell)
    return str(value), [e.detector for e in events]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HOSTILE, st.sampled_from(STRATEGIES))
@example("git@github.com", "redact")
@example("noreply@GitHub.com", "redact")
@example("x" * 64 + "@example.com", "redact")
@example("x" * 65 + "@example.com", "redact")
@example("u@" + "a" * 63 + ".com", "redact")
@example("u@" + "a" * 64 + ".com", "redact")
@example("u@example." + "c" * 63, "redact")
@example("u@example." + "c" * 64, "redact")
@example("4111111111111111@example.com", "partial")
@example("u@example.c", "redact")
@example("u@example.com-", "redact")
def test_a_cell_of_one_address_masks_as_the_engine_masks_it(cell: str, strategy: Strategy) -> None:
    engine = ENGINES[strategy]
    masked, found = mask_emails(engine, [cell])
    if masked[0] is None:
        assert found == 0
        return
    assert found == 1
    assert EMAIL_CELL.fullmatch(cell)
    assert engine_alone(engine, cell) == (masked[0], ["email"])


@settings(max_examples=300, deadline=None)
@given(st.lists(HOSTILE, min_size=1, max_size=8))
def test_a_column_is_shaped_only_when_each_cell_is(cells: list[str]) -> None:
    whole = EMAIL_COLUMN.fullmatch("\n".join(cells)) is not None
    assert whole == all(EMAIL_CELL.fullmatch(c) for c in cells)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.one_of(st.none(), HOSTILE), st.one_of(st.none(), ADDRESS)),
        min_size=1,
        max_size=10,
    ),
    st.sampled_from(STRATEGIES),
)
def test_a_page_with_addresses_masks_as_cell_by_cell(
    rows: list[tuple[str | None, str | None]], strategy: Strategy
) -> None:
    engine = ENGINES[strategy]
    masked, counts = mask_page(engine, ("a", "b"), rows)
    expected = [
        tuple(None if c is None else engine_alone(engine, c)[0] for c in row) for row in rows
    ]
    events: dict[str, int] = {}
    for row in rows:
        for cell in row:
            for name in engine_alone(engine, cell)[1] if cell is not None else []:
                events[name] = events.get(name, 0) + 1
    assert masked == expected
    assert dict(counts) == events


def test_a_fake_customer_column_is_masked_without_the_engine() -> None:
    engine = ENGINES["redact"]
    cells = [f"user{i}@example.com" for i in range(1000)]
    masked, found = mask_emails(engine, cells)
    assert found == 1000
    assert masked == ["[MASKED:email]"] * 1000


@pytest.mark.parametrize(
    ("detectors", "applies"),
    [
        (BUILTIN_DETECTORS, True),
        (tuple(d for d in BUILTIN_DETECTORS if d.name != "email"), False),
        (
            (Detector(name="mine", regex=re.compile(rb"@"), category="pii"), *BUILTIN_DETECTORS),
            False,
        ),
        (
            (*BUILTIN_DETECTORS, Detector(name="mine", regex=re.compile(rb"@"), category="pii")),
            True,
        ),
    ],
)
def test_the_shortcut_needs_email_with_only_builtins_before_it(
    detectors: tuple[Detector, ...], applies: bool
) -> None:
    engine = MaskingEngine(MaskingPolicy(detectors=detectors), key=KEY)
    assert email_applies(engine) is applies


def test_a_custom_detector_after_email_is_merged_into_the_address() -> None:
    custom = Detector(name="mine", regex=re.compile(rb"example"), category="pii")
    engine = MaskingEngine(MaskingPolicy(detectors=(*BUILTIN_DETECTORS, custom)), key=KEY)
    cell = "user@example.com"
    masked, found = mask_emails(engine, [cell])
    assert (masked[0], found) == ("[MASKED:email]", 1)
    assert engine_alone(engine, cell) == ("[MASKED:email]", ["email"])
