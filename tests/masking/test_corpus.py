"""Recall and precision on the peers' test corpus (Presidio, detect-secrets), all detectors on."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.masking import BUILTIN_BY_NAME, StreamMasker
from broker.masking.prefilter import Prefilter
from tests.support.masking_corpus import (
    CORPUS_DIR,
    SOURCES,
    Case,
    all_detectors_engine,
    judge,
    load_cases,
    score,
    survives,
    total,
)

ENGINE = all_detectors_engine()
CASES = load_cases()
OUTCOMES = [judge(ENGINE, case) for case in CASES]
ROWS = {row.detector: row for row in score(OUTCOMES)}


def test_every_case_names_its_source_and_a_builtin_detector() -> None:
    assert {c.source.project for c in CASES} == {"microsoft/presidio", "Yelp/detect-secrets"}
    for case in CASES:
        assert case.detector in BUILTIN_BY_NAME, case
        assert re.fullmatch(r"[0-9a-f]{40}", case.source.commit), case
        assert case.source.line > 0
        assert case.source.file.endswith(".py")
        for value in case.values:
            assert value in case.text, case
        for values in case.other.values():
            assert all(v in case.text for v in values), case


def test_excluded_cases_say_why() -> None:
    lines = (CORPUS_DIR / "excluded.jsonl").read_text(encoding="utf-8").splitlines()
    excluded = [json.loads(line) for line in lines]
    assert excluded
    assert all(row["reason"] and row["source"]["commit"] for row in excluded)
    assert len(SOURCES) == 2


def test_recall_overall_is_at_least_97_percent() -> None:
    assert total(list(ROWS.values())).recall >= 0.97


@pytest.mark.parametrize("detector", sorted(ROWS))
def test_recall_of_each_detector_is_at_least_90_percent(detector: str) -> None:
    row = ROWS[detector]
    missed = [
        o.case.text
        for o in OUTCOMES
        if o.case.detector == detector and o.case.positive and not o.ok
    ]
    assert row.recall >= 0.90, missed


def test_at_most_one_percent_of_negatives_are_altered() -> None:
    t = total(list(ROWS.values()))
    altered = [(o.case.text, o.masked) for o in OUTCOMES if not o.case.positive and not o.ok]
    assert t.negatives >= 300
    assert t.altered <= 0.01 * t.negatives, altered


def test_the_pure_python_prefilter_masks_the_corpus_alike() -> None:
    engine = all_detectors_engine()
    engine._prefilter = Prefilter(engine.policy.detectors)  # the fallback without Hyperscan
    assert [judge(engine, case).masked for case in CASES] == [o.masked for o in OUTCOMES]


@pytest.mark.parametrize(
    "text",
    [
        "pass-through: your own terminal",
        "password: ${link}",
        "API_KEY=$API_KEY",
        'my_password = ""',
        "//registry.npmjs.org/:_authToken=${NPM_TOKEN}",
    ],
)
def test_references_empty_values_and_prose_are_left_alone(text: str) -> None:
    assert ENGINE.mask_text(text)[0] == text


_RECALLED: list[Case] = [o.case for o in OUTCOMES if o.case.positive and o.ok]


_ALONE = re.compile(r"[0-9]{9}")


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=st.sampled_from(_RECALLED),
    cuts=st.lists(st.integers(min_value=0, max_value=4096), max_size=8),
    before=st.sampled_from(["", "$ cat .env\r\n", "log: ", "\x1b[32m"]),
)
def test_a_corpus_secret_never_survives_any_chunking(
    case: Case, cuts: list[int], before: str
) -> None:
    if _ALONE.fullmatch(case.text):
        before = before.replace("log: ", "log:\r\n")  # a bare number is masked alone on its line
    data = (before + case.text + "\r\n").encode("utf-8")
    masker = StreamMasker(ENGINE, stream="stdout")
    out = b"".join(masker.feed(chunk) for chunk in _split(data, cuts)) + masker.flush()
    shown = out.decode("utf-8", "replace")
    for value in case.values:
        assert not survives(value, shown), (case.text, shown)


@pytest.mark.parametrize(
    ("data", "cut"),
    [
        (b"$ cat .env\r\nLI21 0881 0000 2324 013A A\r\n", 37),  # found by the property above
        (b"iban: GB82 WEST 1234 5698 7654 32\r\n", 16),
        (b"card 4111 1111 1111 1111\r\n", 15),
    ],
)
def test_a_value_cut_after_a_group_and_its_space_is_masked_whole(data: bytes, cut: int) -> None:
    masker = StreamMasker(ENGINE, stream="stdout")
    out = masker.feed(data[:cut]) + masker.feed(data[cut:]) + masker.flush()
    assert b"[MASKED:" in out
    assert not any(ch.isdigit() for ch in out.decode().split("[MASKED:")[0][-6:]), out
