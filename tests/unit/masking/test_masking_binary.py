"""Binary output: the rule that tells it from text, and the policy that passes or refuses it."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import itertools
import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from broker.common.errors import ConfigError
from broker.masking import MaskingEngine, MaskingPolicy
from broker.masking.binary import BLOCK, TextJudge, is_text, unreadable
from broker.masking.filter import BinaryOutputRefused, MaskingFilter
from broker.masking.policy import parse_masking_policy
from broker.masking.rules import parse_masking_rules

KEY = b"test-key-0123456789abcdef"
CARD = b"4111 1111 1111 1111"


def _engine(binary: str) -> MaskingEngine:
    return MaskingEngine(dataclasses.replace(MaskingPolicy(), binary=binary), key=KEY)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def _kinds(judge: TextJudge, chunks: list[bytes]) -> list[bool]:
    return [text for chunk in chunks for text, _ in judge.split(chunk)]


# -- the rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "text"),
    [
        (b"plain ascii log line\n" * 50, True),
        ("naïve café, 日本語, emoji 🎉\n".encode() * 40, True),
        (b"\x1b[1;31merror\x1b[0m: \x1b]0;title\x07\x1b[K\r\n" * 40, True),
        (b"prompt$ \x08\x08\x08\x1b[K\x07\x0e\x0f\t\x0c", True),  # display controls are text
        (b"4111\x001111\x7f1111 1111", True),  # a few hidden bytes in text: still text
        (
            "a latin-1 log line, one accent: déjà-vu, and the rest ASCII\n".encode("latin-1") * 20,
            True,
        ),
        (bytes(4096), False),  # /dev/zero
        ("UTF-16 text".encode("utf-16-le") * 30, False),
        (gzip.compress(b"hello world " * 400, mtime=0), False),
        (random.Random(1).randbytes(4096), False),
        (b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x02\x00\x3e\x00" + bytes(40), False),
    ],
)
def test_the_rule(block: bytes, text: bool) -> None:
    assert is_text(block) is text


def test_an_undecodable_sequence_counts_once() -> None:
    assert unreadable(b"ok \xe2\x82 ok") == 1
    assert unreadable(b"\x00\x01 \xff\xfe") == 4


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    size=st.integers(64, 3 * BLOCK),
    cuts=st.lists(st.integers(0, 20000), max_size=6),
    sticky=st.booleans(),
)
def test_random_bytes_are_binary_under_any_chunking(
    seed: int, size: int, cuts: list[int], sticky: bool
) -> None:
    data = random.Random(seed).randbytes(size)
    judge = TextJudge(sticky=sticky)
    kinds = _kinds(judge, _split(data, cuts))
    assert judge.binary
    assert not kinds[-1] if sticky else False in kinds


_printable = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), max_codepoint=0x1FFFF), max_size=60
)
_piece = st.one_of(
    _printable.map(str.encode),
    st.sampled_from(
        [b"\r\n", b"\t", b"\x1b[31m", b"\x1b[0m", b"\x1b[38;5;208m", b"\x1b[K", b"\x08"]
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(_piece, max_size=200),
    cuts=st.lists(st.integers(0, 20000), max_size=10),
    sticky=st.booleans(),
)
def test_real_text_is_text_under_any_chunking(
    pieces: list[bytes], cuts: list[int], sticky: bool
) -> None:
    """UTF-8 (cut anywhere, even inside a character) and colour escapes are text."""
    data = b"".join(pieces)
    judge = TextJudge(sticky=sticky)
    assert all(_kinds(judge, _split(data, cuts)))
    assert not judge.binary


def test_a_run_is_binary_from_its_first_binary_block_on() -> None:
    blob = random.Random(5).randbytes(9000)
    judge = TextJudge(sticky=True)
    segments = judge.split(b"header text\n" * 400 + blob)
    assert [text for text, _ in segments] == [True, False]
    assert judge.split(b"text again\n") == [(False, b"text again\n")]


def test_a_terminal_is_text_again_after_binary() -> None:
    judge = TextJudge(sticky=False)
    assert judge.split(bytes(8192)) == [(False, bytes(8192))]
    assert judge.split(b"$ ls\r\n") == [(True, b"$ ls\r\n")]


# -- the policy, in the masking filter -----------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    cuts=st.lists(st.integers(0, 300000), max_size=12),
    pty=st.booleans(),
)
@example(seed=2136, cuts=[6], pty=False)  # the first 6 bytes end in an ESC, read as text
def test_pass_is_byte_exact_whatever_the_bytes_look_like(
    seed: int, cuts: list[int], pty: bool
) -> None:
    rng = random.Random(seed)
    # Text-like values planted in the blob: none of them may be "masked".
    blob = b"K@B.UZ ".join(rng.randbytes(rng.randint(100, 20000)) for _ in range(8))
    blob += CARD + b" jane.doe@example.com " + rng.randbytes(500)
    stage = MaskingFilter(_engine("pass"), pty=pty)
    out = b"".join(stage.feed(c, False) for c in _split(blob, cuts))
    stage.end()
    out += stage.flush(False)
    assert out == blob
    assert stage.counter.total == 0
    seen = stage.summary()["binary"]["stdout"]
    if pty:  # a terminal's binary runs can be interrupted by a short chunk read as text
        assert seen["bytes"] > len(blob) - 64
        return
    # A first chunk of a few bytes is judged on its own (and may read as text).
    assert seen["offset"] < 64
    assert seen["offset"] + seen["bytes"] == len(blob)
    assert seen["sha256"] == hashlib.sha256(blob[seen["offset"] :]).hexdigest()


def test_pass_masks_the_text_before_the_binary_and_passes_the_rest() -> None:
    blob = random.Random(2).randbytes(50000)
    stage = MaskingFilter(_engine("pass"))
    out = stage.feed(b"card " + CARD + b"\n", False) + stage.feed(blob, False)
    stage.end()
    out += stage.flush(False)
    assert out == b"card [MASKED:credit_card]\n" + blob
    summary = stage.summary()
    assert summary["total"] == 1
    assert summary["binary"]["stdout"]["bytes"] == len(blob)


def test_refuse_raises_and_never_returns_binary_bytes() -> None:
    stage = MaskingFilter(_engine("refuse"))
    assert stage.feed(b"starting\n", False) == b"starting\n"
    with pytest.raises(BinaryOutputRefused, match=r"binary: refuse"):
        stage.feed(random.Random(3).randbytes(40000), False)
    assert stage.summary()["binary"] == {"stdout": {"action": "refused", "offset": 9}}


def test_refuse_is_the_default() -> None:
    assert MaskingPolicy().binary == "refuse"
    with pytest.raises(BinaryOutputRefused):
        MaskingFilter(MaskingEngine(MaskingPolicy(), key=KEY)).feed(bytes(10000), True)


def test_on_a_terminal_text_after_passed_binary_is_masked_again() -> None:
    stage = MaskingFilter(_engine("pass"), pty=True)
    out = stage.feed(bytes(8192), False)
    out += stage.feed(b"\r\n$ echo " + CARD + b"\r\n", False)
    assert out.startswith(bytes(8192))
    assert b"[MASKED:credit_card]" in out
    assert CARD not in out


def test_a_run_with_binary_stderr_gets_no_notice_line_appended() -> None:
    stage = MaskingFilter(_engine("pass"))
    blob = random.Random(4).randbytes(10000)
    out = stage.feed(b"card " + CARD + b"\n", False) + stage.flush(False)
    err = stage.feed(blob, True)
    stage.end()
    err += stage.flush(True)
    assert out == b"card [MASKED:credit_card]\n"
    assert err == blob


# -- configuration -------------------------------------------------------------------------


def _line(_: object) -> int:
    return 7


def test_binary_is_set_in_the_masking_section_and_per_override() -> None:
    section = {
        "binary": "refuse",
        "overrides": [{"name": "downloads", "connections": ["files-*"], "binary": "pass"}],
    }
    rules = parse_masking_rules(section, file="p.yaml", line_of=_line)
    assert rules.base.binary == "refuse"
    assert rules.resolve("files-1", []).binary == "pass"
    assert rules.resolve("web-1", []).binary == "refuse"


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"binary": "allow"}, "masking.binary"),
        ({"binary": True}, "masking.binary"),
        ({"overrides": [{"connections": ["x"], "binary": "yes"}]}, "masking.overrides.0.binary"),
    ],
)
def test_a_bad_binary_setting_names_its_key(section: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_masking_rules(section, file="p.yaml", line_of=_line)
    assert key in str(caught.value)
    assert "p.yaml:7" in str(caught.value)


def test_the_base_policy_parser_takes_binary() -> None:
    assert parse_masking_policy({"binary": "pass"}, file="p", line_of=_line).binary == "pass"
