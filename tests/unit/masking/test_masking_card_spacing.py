"""Card numbers whose groups of four are apart by unequal runs of spaces (one or two)."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.masking import BUILTIN_DETECTORS, MaskingEngine, MaskingPolicy, StreamMasker

KEY = b"test-key-0123456789abcdef"
ENGINE = MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS), key=KEY)
CARDS = ["4111111111111111", "5555555555554444", "6011111111111117", "3530111333300000"]


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    card=st.sampled_from(CARDS),
    gaps=st.lists(st.sampled_from([" ", "  "]), min_size=3, max_size=3),
    before=st.sampled_from(["", "card ", "pan: ", "x\n"]),
    after=st.sampled_from(["", " exp 12/29", ".", "\n", "  5555"]),
    cuts=st.lists(st.integers(0, 60), max_size=4),
)
def test_a_card_with_one_or_two_spaces_between_groups_is_masked_in_any_chunking(
    card: str, gaps: list[str], before: str, after: str, cuts: list[int]
) -> None:
    groups = [card[i : i + 4] for i in range(0, 16, 4)]
    written = groups[0] + "".join(g + d for g, d in zip(gaps, groups[1:], strict=True))
    data = (before + written + after).encode()
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    masker = StreamMasker(ENGINE, stream="stdout")
    out = b"".join(masker.feed(data[a:b]) for a, b in itertools.pairwise(bounds))
    out += masker.flush(end=True)
    assert b"[MASKED:credit_card]" in out
    digits = out.decode().replace(" ", "")
    assert card[4:12] not in digits, out  # no two middle groups of the card survive


@settings(max_examples=300, deadline=None)
@given(
    digits=st.text(alphabet="0123456789", min_size=16, max_size=16),
    gaps=st.lists(st.sampled_from([" ", "  "]), min_size=3, max_size=3),
)
def test_sixteen_digits_with_unequal_spaces_are_masked_only_when_a_card(
    digits: str, gaps: list[str]
) -> None:
    groups = [digits[i : i + 4] for i in range(0, 16, 4)]
    written = groups[0] + "".join(g + d for g, d in zip(gaps, groups[1:], strict=True))
    cards = [e for e in ENGINE.mask_text(f"n {written} ok")[1] if e.detector == "credit_card"]
    if not _luhn_ok(digits):
        assert cards == []  # a wrong checksum is never a card (precision)


def test_three_spaces_between_groups_are_columns_not_a_card() -> None:
    events = ENGINE.mask_text("4111   1111   1111   1111")[1]
    assert [e for e in events if e.detector == "credit_card"] == []
