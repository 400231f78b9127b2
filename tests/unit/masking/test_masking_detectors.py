"""Per-detector tables: valid values are masked, bad checksums and near misses are not."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from masking_samples import INVALID_CHECKSUM, NEAR_MISS, ORDINARY, VALID

from broker.masking import BUILTIN_BY_NAME, BUILTIN_DETECTORS, MaskingEngine, MaskingPolicy
from broker.masking.checksums import e164_ok

KEY = b"test-key-0123456789abcdef"


def _only(name: str) -> MaskingEngine:
    return MaskingEngine(MaskingPolicy(detectors=(BUILTIN_BY_NAME[name],)), key=KEY)


VALID_CASES = [(name, text, secret) for name, rows in VALID.items() for text, secret in rows]
INVALID_CASES = [(name, text) for name, rows in INVALID_CHECKSUM.items() for text in rows]
NEAR_CASES = [(name, text) for name, rows in NEAR_MISS.items() for text in rows]


def test_at_least_thirty_builtin_detectors_with_unique_names() -> None:
    names = [d.name for d in BUILTIN_DETECTORS]
    assert len(names) >= 30
    assert len(set(names)) == len(names)
    assert {d.category for d in BUILTIN_DETECTORS} == {"secret", "pii", "network"}


def test_every_detector_has_valid_and_near_miss_samples() -> None:
    for det in BUILTIN_DETECTORS:
        assert VALID.get(det.name), det.name
        assert NEAR_MISS.get(det.name), det.name


def test_network_detectors_are_off_by_default_and_others_on() -> None:
    default = set(MaskingPolicy().detector_names)
    for det in BUILTIN_DETECTORS:
        assert (det.name in default) == (det.category != "network")


@pytest.mark.parametrize(("name", "text", "secret"), VALID_CASES)
def test_valid_sample_is_masked(name: str, text: str, secret: str) -> None:
    out, events = _only(name).mask_text(text)
    assert secret not in out
    assert [e.detector for e in events] == [name]
    assert f"[MASKED:{name}]" in out


@pytest.mark.parametrize(("name", "text", "secret"), VALID_CASES)
def test_valid_sample_is_masked_by_default_engine_when_enabled(
    name: str, text: str, secret: str
) -> None:
    engine = MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS), key=KEY)
    out, events = engine.mask_text(f"before {text} after")
    assert secret not in out
    assert events


@pytest.mark.parametrize(("name", "text"), INVALID_CASES)
def test_invalid_checksum_is_not_masked(name: str, text: str) -> None:
    out, events = _only(name).mask_text(text)
    assert (out, events) == (text, [])


@pytest.mark.parametrize(("name", "text"), NEAR_CASES)
def test_near_miss_is_not_masked(name: str, text: str) -> None:
    out, events = _only(name).mask_text(text)
    assert (out, events) == (text, [])


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_output_is_untouched_by_default_policy(text: str) -> None:
    engine = MaskingEngine(MaskingPolicy(), key=KEY)
    assert engine.mask_text(text) == (text, [])


# The phone pattern counts E.164's 8 to 15 digits itself and has a fast branch for unpunctuated
# numbers; before, one looser pattern matched from 7 digits and ``e164_ok`` rejected those. Both
# must find exactly the same numbers.
_LOOSE_PHONE = re.compile(rb"\+(?<![A-Za-z0-9+/=]\+)[1-9](?:[ \-.]?\(?[0-9]\)?){6,14}(?![0-9])")
_PHONE_PIECES = [bytes([c]) for c in b"0123456789 -.()+a/=\n"] + [b"4155552671", b"1234567890123"]


@settings(max_examples=800, deadline=None)
@given(text=st.lists(st.sampled_from(_PHONE_PIECES), max_size=40).map(b"".join))
def test_phone_pattern_equals_the_loose_pattern_checked_by_e164_ok(text: bytes) -> None:
    loose = [m.span() for m in _LOOSE_PHONE.finditer(text) if e164_ok(text[m.start() : m.end()])]
    exact = [m.span() for m in BUILTIN_BY_NAME["phone_e164"].regex.finditer(text)]
    assert exact == loose


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("121000358", True),
        ("accounts\r\n121042882\r\nend", True),
        ("$ cut -d, -f3 bank.csv\r\n021000021\r\n", True),
        ("021000021 bytes", False),
        ("size 021000021", False),
        (" 021000021", False),
        ("021000022", False),  # checksum
        ("421042111", False),  # no Federal Reserve prefix
        ("000000000", False),
    ],
)
def test_a_bare_routing_number_is_masked_only_alone_on_its_line(text: str, masked: bool) -> None:
    engine = MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS), key=KEY)
    _, events = engine.mask_text(text)
    assert [e.detector for e in events] == (["aba_routing"] if masked else [])


# Numbers of fixed groups written with dashes or dots, beside another column's number: a space
# and a digit before or after them start or end another value (``awk '{print $1, $2}'``).
NEXT_COLUMN = [
    ("us_ssn", "{} 7 orders", "219-09-9999"),
    ("us_ssn", "row 5 {}", "219.09.9999"),
    ("us_itin", "itin {} 3", "912-70-1234"),
    ("ca_sin", "2 {} 5", "130-692-544"),
    ("in_aadhaar", "{} 1", "2341-2341-2346"),
    ("imei", "phone 3 {} 42", "49-015420-323751-8"),
    ("br_cpf", "cpf {} 2", "111.444.777-35"),
]


@pytest.mark.parametrize(("name", "shape", "value"), NEXT_COLUMN)
def test_a_dashed_value_beside_a_number_in_the_next_column_is_masked(
    name: str, shape: str, value: str
) -> None:
    out, events = _only(name).mask_text(shape.format(value))
    assert out == shape.format(f"[MASKED:{name}]")
    assert [e.detector for e in events] == [name]


@pytest.mark.parametrize(
    "text",
    [
        "219 09 9999 7",  # spaced groups: the 7 may be more of the same number
        "5 219 09 9999",
        "219-09-9999-1",  # the same separator and a digit: a longer number
        "1-219-09-9999",
        "2341 2341 2346 5",
        "234123412346 5",
    ],
)
def test_a_value_that_may_be_part_of_a_longer_number_is_not_masked(text: str) -> None:
    engine = MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS), key=KEY)
    assert engine.mask_text(text)[0] == text
