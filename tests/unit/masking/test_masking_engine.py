"""MaskingEngine: strategies, proof events, mask_text/mask_value and failure modes."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

import pytest

from broker.common.errors import MaskingError
from broker.masking import (
    ColumnRule,
    Detector,
    MaskCounter,
    MaskEvent,
    MaskFailure,
    MaskingEngine,
    MaskingPolicy,
)

KEY = b"test-key-0123456789abcdef"
CARD = "4111 1111 1111 1111"


def _engine(**kw: object) -> MaskingEngine:
    return MaskingEngine(MaskingPolicy(**kw), key=KEY)  # type: ignore[arg-type]


def test_redact_strategy_names_the_detector() -> None:
    assert _engine().mask_text(f"pay {CARD}.")[0] == "pay [MASKED:credit_card]."


def test_partial_strategy_keeps_last_four_only() -> None:
    out, _ = _engine(default_strategy="partial").mask_text(f"pay {CARD}.")
    assert out == "pay [MASKED:...1111]."


def test_partial_strategy_keeps_nothing_of_short_values() -> None:
    out, _ = _engine(strategies={"password_assignment": "partial"}).mask_text("password=abc12")
    assert out == "password=[MASKED:...]"


def test_hash_strategy_correlates_equal_values_and_separates_others() -> None:
    engine = _engine(default_strategy="hash")
    a, _ = engine.mask_text("4111111111111111")
    b, _ = engine.mask_text(CARD)
    c, _ = engine.mask_text("5555555555554444")
    assert re.fullmatch(r"\[HASH:[0-9a-f]{12}\]", a)
    assert a == b
    assert a != c


def test_hash_depends_on_deployment_key() -> None:
    other = MaskingEngine(MaskingPolicy(default_strategy="hash"), key=b"another-key-0123456789")
    assert other.mask_text(CARD)[0] != _engine(default_strategy="hash").mask_text(CARD)[0]


def test_event_proof_is_keyed_blake2b_of_value() -> None:
    _, events = _engine().mask_text("write to alice@example.com")
    expected = hashlib.blake2b(
        b"alice@example.com", key=KEY, digest_size=32, person=b"gatehouse.mask.2"
    )
    assert events == [
        MaskEvent("email", "redact", "text", 9, 17, expected.hexdigest()),
    ]


def test_a_key_longer_than_blake2b_takes_is_hashed_first() -> None:
    long_key = bytes(range(100))
    engine = MaskingEngine(MaskingPolicy(), key=long_key)
    short = hashlib.blake2b(long_key, person=b"gatehouse.mkey.2").digest()
    expected = hashlib.blake2b(b"v", key=short, digest_size=32, person=b"gatehouse.mask.2")
    assert engine.value_hmac(b"v") == expected.hexdigest()
    assert engine.value_hmac(b"v") != MaskingEngine(MaskingPolicy(), key=long_key[:99]).value_hmac(
        b"v"
    )


def test_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        MaskingEngine(MaskingPolicy(), key=b"short")


def test_mask_bytes_keeps_escape_sequences_inside_value() -> None:
    data = b"\x1b[1malice@exa\x1b[22mmple.com\x1b[0m!"
    out, events = _engine().mask_bytes(data)
    assert out == b"\x1b[1m[MASKED:email]\x1b[22m\x1b[0m!"
    assert events[0].offset == 4
    assert events[0].length == len(b"alice@exa\x1b[22mmple.com")


def test_nothing_enabled_passes_everything() -> None:
    assert _engine(detectors=()).mask_text(CARD) == (CARD, [])


def test_mask_value_column_rule_applies_before_detectors() -> None:
    rule = ColumnRule(re.compile("(?i)email"), "partial")
    value, events = _engine(columns=(rule,)).mask_value("Customer_Email", "bob@example.org")
    assert value == "[MASKED:....org]"
    assert [(e.detector, e.stream) for e in events] == [("column", "column:Customer_Email")]


def test_mask_value_detects_inside_cells() -> None:
    value, events = _engine().mask_value("notes", f"card {CARD}")
    assert value == "card [MASKED:credit_card]"
    assert events[0].stream == "column:notes"


@pytest.mark.parametrize("cell", [4111111111111111, Decimal("4111111111111111")])
def test_mask_value_masks_numeric_cells(cell: object) -> None:
    value, events = _engine().mask_value("pan", cell)
    assert value == "[MASKED:credit_card]"
    assert len(events) == 1


@pytest.mark.parametrize("cell", [None, True, 42, 3.5, "plain", b"bytes", Decimal("9.99")])
def test_mask_value_returns_same_object_when_nothing_matches(cell: object) -> None:
    value, events = _engine().mask_value("c", cell)
    assert value is cell
    assert events == []


def test_mask_value_masks_binary_cells_as_bytes() -> None:
    value, _ = _engine().mask_value("blob", b"k=AKIAIOSFODNN7EXAMPLE")
    assert value == b"k=[MASKED:aws_access_key_id]"


def _explode(value: bytes) -> bool:
    raise RuntimeError("boom")


BROKEN = Detector("broken", "secret", re.compile(rb"x"), _explode)


def test_fail_closed_raises_masking_error_and_reports() -> None:
    seen: list[MaskFailure] = []
    engine = MaskingEngine(MaskingPolicy(detectors=(BROKEN,)), key=KEY, on_error=seen.append)
    with pytest.raises(MaskingError):
        engine.mask_text("xyz")
    assert [(f.error, f.withheld) for f in seen] == [("RuntimeError", True)]


def test_unsafe_best_effort_returns_input_and_reports() -> None:
    seen: list[MaskFailure] = []
    policy = MaskingPolicy(detectors=(BROKEN,), mode="unsafe_best_effort")
    engine = MaskingEngine(policy, key=KEY, on_error=seen.append)
    assert engine.mask_text("xyz") == ("xyz", [])
    assert [f.withheld for f in seen] == [False]


def test_counter_summarises_per_detector() -> None:
    counter = MaskCounter()
    assert counter.summary() == "0 values masked"
    _, events = _engine().mask_text(f"{CARD} a@b.io {CARD}")
    counter.add(events)
    assert counter.total == 3
    assert counter.counts() == {"credit_card": 2, "email": 1}
    assert counter.summary() == "3 values masked (credit_card 2, email 1)"


def test_overlapping_matches_are_merged_into_one_mask() -> None:
    out, events = _engine().mask_text(
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    )
    assert out == "aws_secret_access_key=[MASKED:aws_secret_access_key]"
    assert len(events) == 1


def test_unterminated_private_key_is_masked_to_the_end() -> None:
    out, _ = _engine().mask_text("x\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\nMore")
    assert out == "x\n[MASKED:private_key]"
