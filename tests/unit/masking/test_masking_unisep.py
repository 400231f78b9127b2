"""Numbers written with Unicode spaces and dashes are masked as the ASCII-written ones are."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from broker.masking import BUILTIN_DETECTORS, MaskingEngine, MaskingPolicy, StreamMasker
from broker.masking.unisep import DASHES, SPACES, ascii_separators

KEY = b"test-key-0123456789abcdef"
ENGINE = MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS), key=KEY)
SEPARATORS = SPACES + DASHES
VALUES = {
    "credit_card": ["4111 1111 1111 1111", "5555 5555 5555 4444", "3782 822463 10005"],
    "iban": ["DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32"],
    "us_ssn": ["078-05-1120"],
    "ca_sin": ["130 692 544", "347-677-452"],
    "uk_nino": ["AB 12 34 56 C"],
    "phone_e164": ["+44 20 7946 0958", "+1 415-555-2671"],
    "imei": ["49-015420-323751-8"],
    "in_aadhaar": ["2345 6789 0124"],
}


def _written_with(value: str, seps: list[str]) -> str:
    """``value`` with each ASCII space replaced by the next Unicode space of ``seps``, each
    hyphen by the next Unicode dash."""
    spaces = [c for c in seps if c in SPACES] or [" "]
    dashes = [c for c in seps if c in DASHES] or ["-"]
    out: list[str] = []
    k = 0
    for ch in value:
        if ch == " ":
            out.append(spaces[k % len(spaces)])
        elif ch == "-":
            out.append(dashes[k % len(dashes)])
        else:
            out.append(ch)
        k += ch in " -"
    return "".join(out)


@pytest.mark.parametrize(
    ("detector", "value", "sep"),
    [
        (d, v, sep)
        for d, vs in VALUES.items()
        for v in vs
        for sep in SEPARATORS
        if _written_with(v, [sep]) != v  # the value has a separator of that kind
    ],
)
def test_each_unicode_separator_is_read_as_an_ascii_one(
    detector: str, value: str, sep: str
) -> None:
    written = _written_with(value, [sep])
    text = f"value: {written} end"
    masked, events = ENGINE.mask_text(text)
    assert masked == f"value: [MASKED:{detector}] end", (detector, hex(ord(sep)))
    ascii_events = ENGINE.mask_text(f"value: {value} end")[1]
    assert [e.value_hmac for e in events] == [e.value_hmac for e in ascii_events]


@settings(max_examples=300, deadline=None)
@given(
    pick=st.sampled_from([(d, v) for d, vs in VALUES.items() for v in vs]),
    seps=st.lists(st.sampled_from(SEPARATORS), min_size=1, max_size=4),
    before=st.text(alphabet="abc xyz:=é€", max_size=8),
    cuts=st.lists(st.integers(0, 80), max_size=4),
)
def test_a_number_with_unicode_separators_never_survives_any_chunking(
    pick: tuple[str, str], seps: list[str], before: str, cuts: list[int]
) -> None:
    detector, value = pick
    written = _written_with(value, seps)
    assume(written != value)
    data = f"{before} {written} ok\r\n".encode()
    masker = StreamMasker(ENGINE, stream="stdout")
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    out = b"".join(masker.feed(data[a:b]) for a, b in itertools.pairwise(points))
    out += masker.flush(end=True)
    assert f"[MASKED:{detector}]".encode() in out
    digits = "".join(c for c in value if c.isalnum())
    assert digits[:-1].encode() not in out
    assert written.encode() not in out


def test_text_without_unicode_separators_is_not_rewritten() -> None:
    assert ascii_separators("plain — with an em dash but no number".encode()) is not None
    assert ascii_separators(b"plain ascii 4111") is None
    text = "box drawing ─│┌ and prices 12 €, 30 ¢"
    assert ENGINE.mask_text(text) == (text, [])
