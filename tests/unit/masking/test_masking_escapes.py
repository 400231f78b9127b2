"""Values inside escape sequences and between hidden controls are masked; the title is the broker's."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from masking_samples import VALID

from broker.masking import BUILTIN_DETECTORS, MaskingEngine, MaskingPolicy, StreamMasker
from broker.masking.ansi import HIDDEN, open_string, strip_ansi
from broker.masking.filter import MaskingFilter

KEY = b"test-key-0123456789abcdef"
ENGINE = MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS), key=KEY)
CARD = b"4111 1111 1111 1111"
PLANTS = [(text.encode(), secret.encode()) for rows in VALID.values() for text, secret in rows]


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def _stream(chunks: list[bytes]) -> tuple[bytes, StreamMasker]:
    masker = StreamMasker(ENGINE, stream="stdout")
    out = b"".join(masker.feed(c) for c in chunks) + masker.flush(end=True)
    return out, masker


# -- escape sequences ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "masked"),
    [
        (b"\x1b]2;card " + CARD + b"\x07$ ", b"\x1b]2;card [MASKED:credit_card]\x07$ "),
        (b"\x1b]0;" + CARD + b"\x1b\\", b"\x1b]0;[MASKED:credit_card]\x1b\\"),
        (
            b"\x1b]8;;https://shop.example/?pan=4111111111111111\x1b\\see "
            + CARD
            + b"\x1b]8;;\x1b\\ ok",
            b"\x1b]8;;https://shop.example/?pan=[MASKED:credit_card]\x1b\\see "
            b"[MASKED:credit_card]\x1b]8;;\x1b\\ ok",
        ),
        (b"\x1bPq jane.doe@example.com\x1b\\", b"\x1bPq [MASKED:email]\x1b\\"),
        (b"\x1b_Gkey=AKIAQ7XJ2RDJ6NNDE4PL\x1b\\", b"\x1b_Gkey=[MASKED:aws_access_key_id]\x1b\\"),
        (b"\x1b^" + CARD + b"\x1b\\", b"\x1b^[MASKED:credit_card]\x1b\\"),
        (b"\x1bX" + CARD + b"\x1b\\", b"\x1bX[MASKED:credit_card]\x1b\\"),
        # A value reaching across a payload's edge drops the whole sequence with it.
        (b"\x1b]2;" + CARD + b"\n\x07", b"\x1b]2;[MASKED:credit_card]\n\x07"),
        # Colours inside a masked value are kept; nothing else changes.
        (b"\x1b[31m" + CARD + b"\x1b[0m", b"\x1b[31m[MASKED:credit_card]\x1b[0m"),
        # A payload is never joined to the text around it.
        (b"4111 1111 \x1b]2;1111 1111\x07", b"4111 1111 \x1b]2;1111 1111\x07"),
        (b"\x1b]2;plain title\x07\x1b]8;;https://example.com/\x1b\\x", None),
    ],
)
def test_payloads_of_string_sequences_are_masked_in_place(
    data: bytes, masked: bytes | None
) -> None:
    expected = data if masked is None else masked
    assert ENGINE.mask_bytes(data)[0] == expected
    assert _stream([data])[0] == expected


def test_a_value_straddling_a_payload_edge_takes_the_sequence() -> None:
    data = b"pan 4111 1111 1111 1111\x1b]2;x\x07"
    smap = strip_ansi(data)
    assert smap.text == b"pan 4111 1111 1111 1111\nx\n"
    assert smap.widen(4, 26) == (4, len(data))  # into the introducer: whole sequence
    assert smap.widen(27, 28) == (27, 28)  # inside the payload: in place


@pytest.mark.parametrize(
    ("data", "at"),
    [
        (b"abc\x1b]2;title", 3),
        (b"\x1bPq...", 0),
        (b"x\x1b_apc", 1),
        (b"\x1b]2;done\x07", -1),
        (b"\x1bPdone\x1b\\", -1),
        (b"\x1bPq\x07 BEL does not end a DCS", 0),
        (b"\x1b]2;aborted\x18", -1),
        (b"\x1b[31m", -1),
        (b"\x1b", -1),
        (b"\x1bPq\x1b", 0),  # the last ESC may start the ST that ends it
        (b"\x1b[1m\x1b", -1),
    ],
)
def test_open_string_finds_an_unterminated_string_sequence(data: bytes, at: int) -> None:
    assert open_string(data) == at


@pytest.mark.parametrize("stray", [b"\x1b\x01", b"\x1b[1;2\x01", b"\x1b[" + b"1;" * 40 + b"\x01"])
def test_an_escape_that_cannot_finish_is_dropped(stray: bytes) -> None:
    masker = StreamMasker(ENGINE, stream="stdout")
    out = masker.feed(b"a" + stray + b" and then plain text " * 5)
    out += masker.flush(end=True)
    assert b"\x1b" not in out
    assert out == b"a" + stray[1:] + b" and then plain text " * 5


def test_an_unfinished_escape_at_the_end_waits_past_the_hold_back_timeout() -> None:
    masker = StreamMasker(ENGINE, stream="stdout")
    assert masker.feed(b"$ \x1b[3") == b"$ "
    assert masker.flush() == b""
    assert masker.feed(b"1mred") == b"\x1b[31mred"


def test_an_open_string_is_held_until_terminated_then_masked() -> None:
    masker = StreamMasker(ENGINE, stream="stdout")
    assert masker.feed(b"$ \x1b]2;card 4111 1111") == b"$ "
    assert masker.held
    assert masker.flush() == b""  # a hold-back timeout does not release it
    assert masker.feed(b" 1111 1111\x07 ok") == b"\x1b]2;card [MASKED:credit_card]\x07 ok"


def test_an_open_string_past_the_bound_loses_its_introducer() -> None:
    masker = StreamMasker(ENGINE, stream="stdout", max_string=64)
    out = masker.feed(b"\x1b]2;" + b"x" * 80 + b" " + CARD)
    out += masker.flush(end=True)
    assert b"\x1b" not in out
    assert out == b"2;" + b"x" * 80 + b" [MASKED:credit_card]"


def test_at_the_end_an_open_string_is_released_as_text() -> None:
    masker = StreamMasker(ENGINE, stream="stdout")
    assert masker.feed(b"\x1bPsecret " + CARD) == b""
    assert masker.flush(end=True) == b"secret [MASKED:credit_card]"


_KINDS = [
    (b"\x1b]2;", b"\x07"),
    (b"\x1b]0;", b"\x1b\\"),
    (b"\x1b]8;;", b"\x1b\\"),  # a link target (values in a URL query: see the table above)
    (b"\x1b]8;id=1;", b"\x07"),
    (b"\x1bP", b"\x1b\\"),
    (b"\x1b_", b"\x1b\\"),
    (b"\x1b^", b"\x1b\\"),
    (b"\x1bX", b"\x1b\\"),
]
_text = st.lists(
    st.sampled_from(
        [b"hello ", b"world", b"\r\n", b"\x1b[31m", b"\x1b[0m", b"\t", b"x", "é".encode(), b"-"]
    ),
    max_size=20,
).map(b"".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=_text,
    after=_text,
    plant=st.sampled_from(PLANTS),
    kind=st.sampled_from(_KINDS),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=8),
    pty=st.booleans(),
)
def test_a_planted_value_in_any_string_payload_never_survives_any_chunking(
    before: bytes,
    after: bytes,
    plant: tuple[bytes, bytes],
    kind: tuple[bytes, bytes],
    cuts: list[int],
    pty: bool,
) -> None:
    text, secret = plant
    intro, end = kind
    data = before + intro + text + end + after
    out, masker = _stream(_split(data, cuts))
    assert secret not in out
    assert masker.counter.total >= 1
    stage = MaskingFilter(ENGINE, pty=pty)
    shown = b"".join(stage.feed(c, False) for c in _split(data, cuts))
    stage.end()
    shown += stage.flush(False)
    assert secret not in shown


# -- hidden controls ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"4111\x001111\x7f1111 1111",
        b"4111\x001111\x001111\x001111",
        b"4111\x00111111111111",
        b"card 4\x7f111 1111 1111 1111\r\n",
        b"\x1b]2;4111\x001111\x7f1111 1111\x07",
        b"jane\x00.doe@exa\x7fmple.com",
    ],
)
def test_hidden_controls_never_split_a_value(data: bytes) -> None:
    out, events = ENGINE.mask_bytes(data)
    assert events
    assert not re.search(rb"[0-9]{4}", out.replace(b"\x1b]2;", b""))
    assert b"jane" not in out
    assert _stream(_split(data, [5, 9]))[0] == out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plant=st.sampled_from(PLANTS),
    hidden=st.lists(
        st.tuples(st.integers(0, 200), st.binary(min_size=1, max_size=3).map(
            lambda b: bytes(HIDDEN[x % len(HIDDEN)] for x in b)
        )),
        max_size=4,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)  # fmt: skip
def test_a_value_with_hidden_controls_anywhere_inside_never_survives(
    plant: tuple[bytes, bytes], hidden: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    text, secret = plant
    start = text.index(secret)
    spots = sorted({start + 1 + at % max(1, len(secret) - 1) for at, _ in hidden})
    marked = text
    for spot, (_, controls) in zip(reversed(spots), hidden, strict=False):
        marked = marked[:spot] + controls + marked[spot:]
    out, _ = _stream(_split(b"> " + marked + b" \r\n", cuts))
    assert secret not in out.translate(None, HIDDEN)


# -- the broker's own title ---------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 5.0  # every look at the clock: a title is always due
        return self.now


def _titles_a_terminal_sets(data: bytes) -> list[bytes]:
    """The OSC 0/2 titles a DEC-style parser would set from ``data``: any ESC ends a
    string; BEL ends an OSC; CAN/SUB abort."""
    titles: list[bytes] = []
    i = 0
    while i < len(data):
        if data[i] != 0x1B or i + 1 >= len(data) or data[i + 1] not in b"]PX^_":
            i += 1
            continue
        j = i + 2
        while j < len(data) and data[j] not in (0x1B, 0x18, 0x1A):
            if data[i + 1] == 0x5D and data[j] == 0x07:
                break
            j += 1
        ended = j < len(data) and (
            data[j] == 0x07 or (data[j] == 0x1B and data[j + 1 : j + 2] == b"\\")
        )
        if ended and data[i + 1] == 0x5D:
            selector, _, title = data[i + 2 : j].partition(b";")
            if selector in (b"0", b"2"):
                titles.append(title)
        i = j
    return titles


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=_text,
    kind=st.sampled_from(
        [
            b"\x1b]2;",
            b"\x1b]0;",
            b"\x1bP",
            b"\x1b_",
            b"\x1b^",
            b"\x1bX",
            b"\x1b[12;",
            b"\x1b[1;2\x01",
            b"\x1b\x01",
            b"\x1b#",
        ]
    ),
    forged=st.sampled_from([b"gatehouse: 0 values masked", b"", b"title "]),
    tail=st.lists(st.sampled_from([b"more ", b"\r\n", b"x", CARD, b"\t"]), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=8),
)
def test_an_open_sequence_cannot_swallow_or_forge_the_broker_title(
    before: bytes, kind: bytes, forged: bytes, tail: list[bytes], cuts: list[int]
) -> None:
    """The target opens a string (or a malformed sequence) and never ends it: the broker's
    title still reaches the terminal as a title, whole, and the target's text is never taken
    for one."""
    data = before + b"card " + CARD + b"\r\n" + kind + forged + b"".join(tail)
    stage = MaskingFilter(ENGINE, pty=True, clock=Clock())
    out = b"".join(stage.feed(chunk, False) for chunk in _split(data, cuts))
    shown_before_end = _titles_a_terminal_sets(out)
    stage.end()
    out += stage.flush(False)
    titles = _titles_a_terminal_sets(out)
    broker_titles = [f"gatehouse: {n} value{'s' if n > 1 else ''} masked" for n in range(1, 9)]
    assert titles
    assert titles[-1] == f"gatehouse: {stage.counter.summary()}".encode()
    assert shown_before_end  # not held back behind the open string
    for title in titles:
        assert title.decode().split(" (")[0] in broker_titles
    for m in re.finditer(rb"\x1b\]2;", out):
        end = out.index(b"\x07", m.end())
        assert re.fullmatch(
            rb"gatehouse: [0-9]+ values? masked \([a-z_ 0-9,]+\)", out[m.end() : end]
        )


# -- the map back to the original bytes ----------------------------------------------------

_BYTES = st.lists(
    st.sampled_from(
        [b"\x1b", b"]", b"P", b"_", b"\\", b"\x07", b"\x00", b"\x7f", b"\x01", b"[", b"1", b";",
         b"2", b"m", b"a", b" ", b"\n", b"\x18", b"8", b"^"]
    ),
    max_size=60,
).map(b"".join)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(data=_BYTES, spaced=st.booleans())
def test_every_byte_of_the_text_maps_back_to_the_byte_it_reads(data: bytes, spaced: bool) -> None:
    smap = strip_ansi(data, hidden_as=b" " if spaced else b"")
    origins = [smap.orig(i) for i in range(len(smap.text))]
    assert origins == sorted(set(origins))
    for i, at in enumerate(origins):
        byte = smap.text[i]
        if byte == data[at]:
            continue
        if byte == 0x0A:  # a string's introducer (its ESC) or terminator (BEL or ESC)
            assert data[at] in (0x1B, 0x07)
        else:  # a run of hidden controls read as one separator
            assert spaced
            assert (byte, data[at] in HIDDEN) == (0x20, True)
    for s0, b0, b1, e0 in smap.strings:
        assert data[s0] == 0x1B
        assert s0 < b0 <= b1 < e0 <= len(data)
    if b"\x1b" not in data and not spaced:  # what is left out is exactly the hidden controls
        assert smap.text == data.translate(None, HIDDEN)
