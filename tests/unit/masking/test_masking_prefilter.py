"""The prefilter fast path finds exactly what a whole-text scan of every detector finds."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from masking_samples import INVALID_CHECKSUM, NEAR_MISS, ORDINARY, VALID

from broker.masking import (
    BUILTIN_BY_NAME,
    BUILTIN_DETECTORS,
    Detector,
    MaskingEngine,
    MaskingPolicy,
)
from broker.masking.detector import TOKEN_CONTINUATION
from broker.masking.hsprefilter import HsPrefilter
from broker.masking.prefilter import BUILTIN_PROBES, FOLD, Prefilter

KEY = b"test-key-0123456789abcdef"
ENGINE = MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS), key=KEY)
# The same detectors with the pure-Python prefilter (the fallback when Hyperscan is unavailable).
PY_ENGINE = MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS), key=KEY)
PY_ENGINE._prefilter = Prefilter(BUILTIN_DETECTORS)
ENGINES = [pytest.param(ENGINE, id="hyperscan"), pytest.param(PY_ENGINE, id="python")]


def straightforward(detectors: tuple[Detector, ...], text: bytes) -> list[tuple[int, int, str]]:
    """Every detector's regex over the whole text, validated, overlaps merged (no prefilter)."""
    found: list[tuple[int, int, int, str]] = []
    for rank, det in enumerate(detectors):
        for m in det.regex.finditer(text):
            group = det.group
            if isinstance(group, tuple):
                start, end = next((m.span(g) for g in group if m.start(g) >= 0), (-1, -1))
            else:
                start, end = m.span(group)
            if start >= end:
                continue
            if det.extend_left is not None:
                left = det.extend_left.match(text[max(0, start - 256) : start][::-1])
                if left is None:
                    continue
                start -= left.end()
            if det.validator is not None and not det.validator(text[start:end]):
                continue
            found.append((start, end, rank, det.name))
    found.sort(key=lambda f: (f[0], -f[1], f[2]))
    merged: list[tuple[int, int, str]] = []
    for start, end, _, name in found:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), last[2])
        else:
            merged.append((start, end, name))
    return merged


def fast(engine: MaskingEngine, text: bytes) -> list[tuple[int, int, str]]:
    return [(start, end, det.name) for start, end, det in engine.find_hits(text)]


_SAMPLES = [text.encode() for rows in VALID.values() for text, _ in rows]
_SAMPLES += [s.encode() for rows in INVALID_CHECKSUM.values() for s in rows]
_SAMPLES += [s.encode() for rows in NEAR_MISS.values() for s in rows]
_SAMPLES += [s.encode() for s in ORDINARY]

# Pieces that make digit runs, hex groups, dates, times, phone and card shapes, keys and tokens.
_PIECES = [
    b"0", b"1", b"4", b"7", b"9", b"12", b"123", b"4111", b"1111", b"378282", b"5555",
    b" ", b"-", b".", b":", b"::", b"+", b"(", b")", b"/", b"=", b"@", b"_", b",", b"\n",
    b"\t", b'"', b"'", b"a", b"f", b"z", b"A", b"F", b"GB", b"AB", b"DE", b"C", b"x",
    b"2024-05-12", b"12:34:56", b"fe80", b"db8", b"ab", b"secret", b"PASSWORD", b"pass",
    b"api_key", b"routing", b"ABA", b"example.com", b"user", b"ghp_", b"sk-ant-api03-",
    b"xoxb-", b"AKIA", b"eyJ", b"glpat-", b"GR1348941", b"://", b"hooks.slack.com/",
]  # fmt: skip

_corpus = st.lists(st.one_of(st.sampled_from(_PIECES), st.sampled_from(_SAMPLES)), max_size=40).map(
    b"".join
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_corpus)
@pytest.mark.parametrize("engine", ENGINES)
def test_fast_path_finds_the_same_spans_as_a_whole_text_scan(
    engine: MaskingEngine, text: bytes
) -> None:
    assert fast(engine, text) == straightforward(BUILTIN_DETECTORS, text)


@settings(max_examples=200, deadline=None)
@given(text=st.binary(max_size=200))
@pytest.mark.parametrize("engine", ENGINES)
def test_fast_path_agrees_on_arbitrary_bytes(engine: MaskingEngine, text: bytes) -> None:
    assert fast(engine, text) == straightforward(BUILTIN_DETECTORS, text)


@settings(max_examples=200, deadline=None)
@given(
    text=st.lists(st.sampled_from(b"0123456789 -.()+:abcdefABCDEF@_xZ\n"), max_size=80).map(bytes)
)
@pytest.mark.parametrize("engine", ENGINES)
def test_fast_path_agrees_on_dense_digit_and_hex_text(engine: MaskingEngine, text: bytes) -> None:
    assert fast(engine, text) == straightforward(BUILTIN_DETECTORS, text)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("sample", _SAMPLES)
def test_fast_path_agrees_on_every_sample_in_context(engine: MaskingEngine, sample: bytes) -> None:
    for text in (sample, b"x " + sample + b" y", b"id=" + sample + b";\n", b"+" + sample):
        assert fast(engine, text) == straightforward(BUILTIN_DETECTORS, text)


def test_every_builtin_detector_has_probes() -> None:
    assert set(BUILTIN_PROBES) == set(BUILTIN_BY_NAME)
    assert Prefilter(BUILTIN_DETECTORS).covered == frozenset(range(len(BUILTIN_DETECTORS)))


def test_custom_detector_is_not_prefiltered_and_still_found() -> None:
    custom = Detector("internal-token", "secret", re.compile(rb"tok_[A-Za-z0-9]{8}"))
    detectors = (*BUILTIN_DETECTORS, custom)
    engine = MaskingEngine(MaskingPolicy(detectors=detectors), key=KEY)
    assert len(detectors) - 1 not in Prefilter(detectors).covered
    text = b"a tok_ABCDEFGH and 4111 1111 1111 1111"
    assert fast(engine, text) == straightforward(detectors, text)
    assert [name for _, _, name in fast(engine, text)] == ["internal-token", "credit_card"]


def test_detector_reusing_a_builtin_name_gets_no_builtin_probes() -> None:
    impostor = Detector("credit_card", "pii", re.compile(rb"card#[0-9]+"), None)
    prefilter = Prefilter((impostor,))
    assert prefilter.covered == frozenset()
    engine = MaskingEngine(MaskingPolicy(detectors=(impostor,)), key=KEY)
    assert fast(engine, b"see card#12 now") == [(4, 11, "credit_card")]


def test_custom_detector_with_token_continuation_is_found_anywhere() -> None:
    custom = Detector("t", "secret", re.compile(rb"zz[0-9]{3}"), continuation=TOKEN_CONTINUATION)
    engine = MaskingEngine(MaskingPolicy(detectors=(custom,)), key=KEY)
    assert fast(engine, b"\x00" * 70000 + b"zz123") == [(70000, 70005, "t")]


def test_fold_maps_only_digits_and_upper_case() -> None:
    assert b"AZaz09 -.:@_+\x00\xff".translate(FOLD) == b"azaz00 -.:@_+\x00\xff"
    changed = [b for b in range(256) if FOLD[b] != b]
    assert changed == [*range(49, 58), *range(65, 91)]


@pytest.mark.parametrize(
    "text",
    [
        b"2024-05-12T12:34:56.789Z INFO [worker-3] id=9f3a1c0b77e2d4a1",
        b'{"id": 123456789, "price": 12.34, "created": "2024-05-01T12:00:00Z"}',
        b"order 123456,2024-05-12,Widget model 12,3,123.45",
        b"\x00" * 4096,
        b"the quick brown fox jumps over the lazy dog",
    ],
)
@pytest.mark.parametrize("kind", [HsPrefilter, Prefilter])
def test_ordinary_numbers_open_no_window_for_numeric_detectors(
    kind: type[HsPrefilter | Prefilter], text: bytes
) -> None:
    windows = kind(BUILTIN_DETECTORS).windows(text)
    numeric = {d.name for d in BUILTIN_DETECTORS if d.category != "secret"} - {"email"}
    opened = {BUILTIN_DETECTORS[rank].name for rank in windows}
    assert not opened & numeric


@pytest.mark.parametrize(
    ("text", "name"),
    [
        (b"x 4111 1111 1111 1111 y", "credit_card"),
        (b"ssn 123-45-6789.", "us_ssn"),
        (b"tel +1 (415) 555-2671", "phone_e164"),
        (b"GB82 WEST 1234 5698 7654 32", "iban"),
        (b"NI AB 12 34 56 C", "uk_nino"),
        (b"at 10.0.0.1:22", "ipv4"),
        (b"addr fe80::1ff:fe23:4567:890a", "ipv6"),
        (b"mac 00-1a-2b-3c-4d-5e", "mac_address"),
        (b"routing: 021000021", "aba_routing"),
    ],
)
@pytest.mark.parametrize("kind", [HsPrefilter, Prefilter])
def test_real_values_open_a_window_for_their_detector(
    kind: type[HsPrefilter | Prefilter], text: bytes, name: str
) -> None:
    windows = kind(BUILTIN_DETECTORS).windows(text)
    assert name in {BUILTIN_DETECTORS[rank].name for rank in windows}
