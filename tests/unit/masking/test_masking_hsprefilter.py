"""The Hyperscan prefilter opens every window the pure-Python one does, and scans dense text whole."""

from __future__ import annotations

import re
import threading

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_masking_prefilter import _corpus, fast, straightforward

from broker.masking import (
    BUILTIN_BY_NAME,
    BUILTIN_DETECTORS,
    Detector,
    MaskingEngine,
    MaskingPolicy,
)
from broker.masking.hsprefilter import HS_PROBES, LITERAL_LED, HsPrefilter, _windows, make_prefilter
from broker.masking.prefilter import merge_windows

KEY = b"test-key-0123456789abcdef"
HS = HsPrefilter(BUILTIN_DETECTORS)
ENGINE = MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS), key=KEY)


def _inside(span: tuple[int, int], windows: list[tuple[int, int]]) -> bool:
    return any(a <= span[0] and span[1] <= b for a, b in windows)


def _validated_values(text: bytes) -> list[tuple[int, int, int]]:
    """``(rank, start, end)`` of every value a whole-text scan of each detector accepts.

    A value widened leftwards (``extend_left``, e.g. an email's local part) is checked from
    where its regex matched: the widening reads before the window on purpose.
    """
    found = []
    for rank, det in enumerate(BUILTIN_DETECTORS):
        spans = straightforward((det,), text)
        if det.extend_left is not None:
            spans = [(m.start(), m.end(), det.name) for m in det.regex.finditer(text)]
            spans = [s for s in spans if any(s[1] == v[1] for v in straightforward((det,), text))]
        found.extend((rank, start, end) for start, end, _ in spans)
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_corpus)
def test_every_detected_value_lies_inside_one_of_its_windows(text: bytes) -> None:
    windows = HS.windows(text)
    for rank, start, end in _validated_values(text):
        name = BUILTIN_DETECTORS[rank].name
        assert rank in windows, name
        assert _inside((start, end), windows[rank]), (name, start, end, windows[rank])


def test_every_builtin_detector_has_hyperscan_probes() -> None:
    assert set(HS_PROBES) == set(BUILTIN_BY_NAME)
    assert HS.covered == frozenset(range(len(BUILTIN_DETECTORS)))
    assert isinstance(make_prefilter(BUILTIN_DETECTORS), HsPrefilter)


def test_literal_led_detectors_really_start_with_a_literal() -> None:
    for name in LITERAL_LED:
        first = BUILTIN_BY_NAME[name].regex.pattern[:1]
        assert first.isalnum() or first in (b"-", b":", b"@", b"\\"), name


def _rank(name: str) -> int:
    return next(r for r, d in enumerate(BUILTIN_DETECTORS) if d.name == name)


def test_a_literal_led_detector_scans_from_its_first_candidate_to_the_end() -> None:
    rows = b"".join(b"row %d,u%d@example.com,+1415555%04d\n" % (i, i, i) for i in range(50))
    text = b"x" * 500 + rows
    windows = HS.windows(text)
    assert windows[_rank("email")] == [(text.index(b"@"), len(text))]
    assert windows[_rank("phone_e164")] == [(text.index(b"+") + 8 - 29, len(text))]
    assert fast(ENGINE, text) == straightforward(BUILTIN_DETECTORS, text)
    assert sum(name == "email" for _, _, name in fast(ENGINE, text)) == 50


def test_other_detectors_get_a_window_around_each_candidate() -> None:
    text = b"x" * 5000 + b" card 4111 1111 1111 1111 now " + b"y" * 5000
    (window,) = HS.windows(text)[_rank("credit_card")]
    assert window[1] - window[0] <= 31  # 20 before the 13th digit, 11 after


def test_text_without_candidates_opens_no_window() -> None:
    assert HS.windows(b"") == {}
    assert HS.windows(b"the quick brown fox jumps over the lazy dog\n" * 100) == {}


def test_custom_detectors_only_get_no_hyperscan_database() -> None:
    custom = Detector("t", "secret", re.compile(rb"zz[0-9]{3}"))
    prefilter = HsPrefilter((custom,))
    assert prefilter.covered == frozenset()
    assert prefilter.windows(b"zz123") == {}


def test_threads_scan_with_their_own_scratch_space() -> None:
    text = b"card 4111 1111 1111 1111 mail a@b.co " * 2000
    expected = HS.windows(text)
    results: list[bool] = []

    def scan() -> None:
        results.extend(HS.windows(text) == expected for _ in range(20))

    threads = [threading.Thread(target=scan) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 80


@settings(max_examples=150, deadline=None)
@given(
    text=st.lists(
        st.sampled_from([b"@", b"a", b".", b"co", b"+1", b"4155552671", b" ", b"\n", b"x"]),
        min_size=10,
        max_size=200,
    ).map(b"".join)
)
def test_dense_literal_text_agrees_with_a_whole_text_scan(text: bytes) -> None:
    assert fast(ENGINE, text) == straightforward(BUILTIN_DETECTORS, text)


def test_a_value_inside_an_earlier_value_is_absorbed_and_one_on_its_own_is_found() -> None:
    for text, names in [
        (b"tel +11144477735 ok", ["phone_e164"]),  # its digits are a valid CPF
        (b"cpf 11144477735 ok", ["br_cpf"]),
        (b"cpf 11144477735 tel +11144477735", ["br_cpf", "phone_e164"]),
        (b"a 4111111111111111 b +14111111111111111", ["credit_card"]),
    ]:
        assert fast(ENGINE, text) == straightforward(BUILTIN_DETECTORS, text)
        assert [name for _, _, name in fast(ENGINE, text)] == names


@settings(max_examples=300, deadline=None)
@given(
    ends=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=12),
    before=st.integers(min_value=0, max_value=40),
    after=st.integers(min_value=0, max_value=40),
)
def test_windows_around_ends_equal_merged_windows(ends: list[int], before: int, after: int) -> None:
    size = 300
    expected = merge_windows([(e - before, e + after) for e in ends], size)
    assert _windows(ends, before, after, size) == expected


def test_an_exact_candidate_inside_an_earlier_value_opens_no_window() -> None:
    text = b"tel +14155552671 ok"
    cpf = _rank("br_cpf")
    candidates = HS.candidates(text)
    assert candidates.windows(cpf, {}) is not None  # eleven digits: a CPF candidate
    phone_start, phone_end = 4, 16
    assert candidates.windows(cpf, {phone_end: phone_start}) is None
    # A value starting no earlier than the candidate could does not absorb it.
    assert candidates.windows(cpf, {phone_end: phone_start + 1}) is not None
    assert candidates.windows(cpf, {phone_end + 1: phone_start}) is not None


_PHONE_AND_ID_PIECES = [
    b"+", b"+1", b"11144477735", b"111.444.777-35", b"4155552671", b"123-45-6789", b" ",
    b"a", b"0", b"9", b"(", b")", b"-", b".", b"/", b"=", b"\n",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(_PHONE_AND_ID_PIECES),
        max_size=30,
    ).map(b"".join)
)
def test_phone_numbers_and_national_ids_agree_with_a_whole_text_scan(text: bytes) -> None:
    assert fast(ENGINE, text) == straightforward(BUILTIN_DETECTORS, text)


def test_engines_with_the_same_detectors_share_compiled_databases() -> None:
    first = HsPrefilter(BUILTIN_DETECTORS)
    again = HsPrefilter(BUILTIN_DETECTORS)
    assert again._dbs is first._dbs
    fewer = HsPrefilter(BUILTIN_DETECTORS[:5])
    assert fewer._dbs is not HS._dbs
    assert fewer.covered == frozenset(range(5))
    assert again.windows(b"mail a@b.co") == HS.windows(b"mail a@b.co")
