"""Lines redrawn with carriage returns only: rendered by slicing, as the emulation renders them."""

from __future__ import annotations

import itertools

import pyte
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.masking import BUILTIN_DETECTORS, MaskingEngine, MaskingPolicy, StreamMasker
from broker.masking import cursor as cursor_module
from broker.masking.lineview import LineView
from broker.masking.overlay import overlay_rows, simple

KEY = b"test-key-0123456789abcdef"
ENGINE = MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS), key=KEY)

# Digits and separators (values form), letters, an e-mail's punctuation, and every byte the
# fast path treats specially: CR, tab, the three line feeds, controls that take no cell.
_BYTES = st.sampled_from(
    [
        *(b"4", b"1", b"0", b" ", b"-", b"a", b"Z", b"@", b".", b"\r", b"\t", b"\n", b"\x0b"),
        *(b"\x0c", b"\x00", b"\x07", b"\x7f", b"4111", b"1111 ", b"x@example.com", b"+1415555"),
    ]
)


def _viewed(out: bytes, line: str, col: int, first: bool) -> list[bytes]:
    """The rows of ``out`` the fast path renders, rendered by ``LineView`` (width 0)."""
    rows = out.replace(b"\x0b", b"\n").replace(b"\x0c", b"\n").split(b"\n")
    shown: list[bytes] = []
    for n, row in enumerate(rows):
        if n == 0 and not (first or b"\r" in row):
            continue
        if n and b"\r" not in row:
            continue
        view = LineView(0)
        if n == 0:
            view.feed(line)
            view.col = col
        view.feed(row.decode("ascii"))
        shown.append(view.text().encode("ascii"))
    return shown


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(_BYTES, max_size=40),
    line=st.text(alphabet="ab12 ", max_size=12),
    back=st.integers(0, 12),
    first=st.booleans(),
)
def test_overlay_renders_what_the_line_emulation_shows(
    parts: list[bytes], line: str, back: int, first: bool
) -> None:
    out = b"".join(parts)
    assert simple(out)
    col = max(len(line) - back, 0)
    got = overlay_rows(out, line.encode(), col, first=first)
    assert [row.rstrip(b" ") for row in got] == [
        row.rstrip(b" ") for row in _viewed(out, line, col, first)
    ]


def _run(chunks: list[bytes]) -> tuple[bytes, dict[str, int]]:
    masker = StreamMasker(ENGINE, stream="stdout")  # a `run`: no pty, width not known
    out = b"".join(masker.feed(chunk) for chunk in chunks) + masker.flush(end=True)
    return out, masker.counter.counts()


@settings(
    max_examples=300,
    deadline=None,
    # the patch is undone within each example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(parts=st.lists(_BYTES, max_size=40), cuts=st.lists(st.integers(0, 200), max_size=4))
def test_the_fast_path_releases_what_the_emulation_releases(
    parts: list[bytes], cuts: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"".join(parts)
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    fast = _run(chunks)
    with monkeypatch.context() as patch:
        patch.setattr(cursor_module, "simple", lambda out: False)
        slow = _run(chunks)
    assert fast == slow


@pytest.mark.parametrize(
    "chunks",
    [
        [b"XXXX 1111 1111 1111\r4111\n"],
        [b"ok\nXXXX 1111 1111 1111", b"\r", b"4111\n"],
        [b"1111 1111 1111 1111\r4111\t\t\tdone\n"],
        [b"XXXX 1111 1111 1111\rABCD\r4111\n"],
        [b"\t1 1111 1111\r4111 111\n"],
    ],
)
def test_a_card_drawn_with_carriage_returns_in_run_output_never_shows(
    chunks: list[bytes],
) -> None:
    out, counts = _run(chunks)
    screen = pyte.Screen(80, 6)
    pyte.ByteStream(screen).feed(out.replace(b"\n", b"\r\n"))
    for shown in screen.display:
        assert not ENGINE.find_hits(shown.encode()), shown
    assert counts.get("credit_card", 0) >= 1


def test_random_printable_output_without_a_value_passes_byte_identical() -> None:
    data = b"".join(b"row %d: 12\r34%%\tdone\x0bnext\n" % i for i in range(2000))
    out, counts = _run([data[i : i + 4096] for i in range(0, len(data), 4096)])
    assert out == data
    assert counts == {}
