"""What a masked session writes (audit records, markers, recording) holds no value it masks."""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import json
import logging
import random

import pyte
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.masking import BUILTIN_DETECTORS, MaskingEngine, MaskingPolicy, StreamMasker
from broker.masking.filter import MaskingFilter
from broker.masking.lines import WITHHELD, MaskedText, line_masker, mask_details, mask_logs
from broker.session.brokered import BrokeredSession, SessionKind
from broker.session.recording import LineRecording
from recordings.asciicast import SessionMeta
from tests.support.session_fakes import WAIT, FakeRecorder, Rig

ENGINE = MaskingEngine(MaskingPolicy(detectors=BUILTIN_DETECTORS), key=b"test-key-0123456789abcdef")
CARD = "4111 1111 1111 1111"
MAIL = "john.doe@example.com"
AWS = "AKIAQ7XJ2RDJ6NNDE4PL"
PLANTED = (CARD, MAIL, AWS, "4111", "1111", "john.doe", "AKIAQ7XJ")
"""The values, and pieces of them that must not survive either."""


def proof_of(value: str) -> str:
    _, events = ENGINE.mask_text(value)
    assert len(events) == 1
    return events[0].value_hmac


def record_maskers(stream: str) -> StreamMasker:
    return StreamMasker(ENGINE, stream=stream)


async def masked_rig_open(
    rig: Rig, kind: SessionKind = "terminal", command: str | None = None
) -> BrokeredSession:
    return await rig.open(
        kind,
        command=command,
        maskers=[MaskingFilter(ENGINE, pty=kind == "terminal")],
        mask_line=line_masker(ENGINE),
        record_maskers=record_maskers,
    )


def assert_clean(blob: str | bytes, where: str) -> None:
    text = blob.decode() if isinstance(blob, bytes) else blob
    for value in PLANTED:
        assert value not in text, f"{value!r} in {where}: {text!r}"


async def test_run_command_is_masked_in_every_record_and_marker_with_its_proofs() -> None:
    rig = Rig()
    command = f"echo card {CARD} mail {MAIL} key {AWS}"
    session = await masked_rig_open(rig, "run", command)
    task = await rig.running(session)
    rig.target.upstream.prints(f"card {CARD}\n".encode())
    rig.target.upstream.exits(0)
    await asyncio.wait_for(task, WAIT)

    assert rig.target.requests[0]["command"] == command  # the target runs it as typed
    for _, action, _, details in rig.events.events:
        assert_clean(json.dumps(details), action)
    run = rig.events.only("command.run")
    assert "[MASKED:credit_card]" in run["command"]
    assert run["masked"] == {
        "aws_access_key_id": [proof_of(AWS)],
        "credit_card": [proof_of(CARD)],
        "email": [proof_of(MAIL)],
    }
    start = rig.events.only("session.start")
    assert (start["command"], start["masked"]) == (run["command"], run["masked"])
    assert start["session"] == session.session_id  # ids are never masked
    recorder = rig.recorders.recorder
    assert recorder.markers == [run["command"]]
    assert_clean(bytes(recorder.output), "the recording")
    assert session.commands == [run["command"]]


async def test_a_line_typed_key_by_key_is_recorded_and_audited_whole_and_masked() -> None:
    rig = Rig()
    session = await masked_rig_open(rig)
    upstream = rig.target.upstream
    task = await rig.running(session)
    upstream.prints(b"user@h:~$ ")
    for key in f"echo {CARD}":  # the target echoes each key as it is typed
        rig.terminal.type(key.encode())
        upstream.prints(key.encode())
    rig.terminal.type(b"\r")
    upstream.prints(f"\r\n{CARD}\r\nuser@h:~$ ".encode())
    upstream.exits(0)
    await asyncio.wait_for(task, WAIT)

    recorder = rig.recorders.recorder
    assert_clean(bytes(recorder.output), "the recording")
    assert recorder.output.count(b"[MASKED:credit_card]") == 2  # the echo and the output
    line = rig.events.only("command.line")
    assert line["command"] == "echo [MASKED:credit_card]"
    assert line["masked"] == {"credit_card": [proof_of(CARD)]}
    assert recorder.markers == ["echo [MASKED:credit_card]"]
    summary = rig.events.only("masking.summary")
    assert summary["recording"]["value_hmacs"] == {"credit_card": [proof_of(CARD)] * 2}


async def test_echo_that_lags_behind_enter_is_recorded_whole() -> None:
    """Under load the last keys' echo and Enter's echo arrive in one chunk, after Enter."""
    rig = Rig()
    session = await masked_rig_open(rig)
    upstream = rig.target.upstream
    task = await rig.running(session)
    upstream.prints(b"user@h:~$ ")
    typed = f"echo {CARD}"
    for key in typed[:-2]:
        rig.terminal.type(key.encode())
        upstream.prints(key.encode())
    rig.terminal.type(typed[-2:].encode() + b"\r")  # typed ahead of their echo
    upstream.prints(typed[-2:].encode() + f"\r\n{CARD}\r\nuser@h:~$ ".encode())
    upstream.exits(0)
    await asyncio.wait_for(task, WAIT)

    recorder = rig.recorders.recorder
    assert_clean(bytes(recorder.output), "the recording")
    assert rig.events.only("command.line")["command"] == "echo [MASKED:credit_card]"
    assert recorder.markers == ["echo [MASKED:credit_card]"]


async def test_slowly_printed_output_is_recorded_masked_whole() -> None:
    rig = Rig()
    session = await masked_rig_open(rig, "run", "slow")
    upstream = rig.target.upstream
    task = await rig.running(session)
    upstream.prints(b"card 4111 1111")
    # The live stage's hold-back runs out before the rest comes: flushed to the user.
    session.relay._flush_filters()
    upstream.prints(b" 1111 1111\n")
    upstream.prints(b"err 4111 11", stderr=True)
    session.relay._flush_filters()
    upstream.prints(b"11 1111 1111\n", stderr=True)
    upstream.exits(0)
    await asyncio.wait_for(task, WAIT)
    assert_clean(bytes(rig.recorders.recorder.output), "the recording")
    assert rig.recorders.recorder.output.count(b"[MASKED:credit_card]") == 2


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def line_recording(**bounds: float) -> tuple[LineRecording, FakeRecorder, Clock]:
    recorder = FakeRecorder(SessionMeta("s", "alice", "web", "", "terminal"), 80, 24, "xterm")
    clock = Clock()
    return LineRecording(recorder, record_maskers, clock=clock, **bounds), recorder, clock  # type: ignore[arg-type]


def test_live_output_passes_at_once_and_unchanged() -> None:
    stage, recorder, _ = line_recording()
    assert stage.feed(b"$ 4111", False) == b"$ 4111"
    assert not stage.pending
    assert recorder.output == b""
    assert stage.feed(b" 1111 1111 1111\r\nok\r\n$ ", False) == b" 1111 1111 1111\r\nok\r\n$ "
    assert bytes(recorder.output) == b"$ [MASKED:credit_card]\r\nok\r\n"
    stage.end()
    assert bytes(recorder.output).endswith(b"ok\r\n$ ")


def test_a_line_held_past_its_time_bound_is_recorded_but_a_possible_value_waits() -> None:
    stage, recorder, clock = line_recording(line_seconds=10.0)
    stage.feed(b"progress: 10 % card 4111 1111", False)
    clock.now = 9.9
    stage.flush(False)
    assert recorder.output == b""
    clock.now = 10.0
    stage.flush(False)
    assert bytes(recorder.output) == b"progress: 10 % card "
    stage.feed(b" 1111 1111\r\n", False)
    assert bytes(recorder.output) == b"progress: 10 % card [MASKED:credit_card]\r\n"


def test_a_line_past_its_size_bound_is_recorded_without_its_end() -> None:
    stage, recorder, _ = line_recording(line_bytes=64)
    stage.feed(b"word " * 13, False)
    assert bytes(recorder.output) == b"word " * 13


def test_a_marker_leaves_a_partial_line_held_until_it_ends() -> None:
    stage, recorder, _ = line_recording()
    stage.feed(b"$ echo typed 4111 1111 1111 1111\r\nslow 5555 5555", False)
    stage.settle()  # the command's echo ended in this chunk; its output has begun
    assert bytes(recorder.output) == b"$ echo typed [MASKED:credit_card]\r\n"
    stage.feed(b" 5555 4444 end\r\n", False)
    assert bytes(recorder.output).endswith(b"slow [MASKED:credit_card] end\r\n")
    assert b"5555" not in bytes(recorder.output)


@pytest.mark.parametrize(
    ("details", "kept"),
    [
        ({"session": "4111111111111111", "sha256": AWS}, {"session", "sha256"}),
        ({"value_hmacs": {"email": [MAIL]}, "client": "10.0.0.1:22"}, {"value_hmacs", "client"}),
    ],
)
def test_broker_values_are_never_masked(details: dict[str, object], kept: set[str]) -> None:
    out = mask_details(details, line_masker(ENGINE))
    assert {k for k in kept if out[k] == details[k]} == kept
    assert "masked" not in out


def test_nested_texts_are_masked_and_their_proofs_kept() -> None:
    out = mask_details(
        {"reason": f"bad {MAIL}", "more": [{"line": CARD}], "n": 3}, line_masker(ENGINE)
    )
    assert out == {
        "reason": "bad [MASKED:email]",
        "more": [{"line": "[MASKED:credit_card]"}],
        "n": 3,
        "masked": {"email": [proof_of(MAIL)], "credit_card": [proof_of(CARD)]},
    }


def test_a_text_that_cannot_be_masked_is_withheld() -> None:
    class Broken(MaskingEngine):
        def find_hits(self, text: bytes) -> list:  # type: ignore[type-arg]
            raise RuntimeError("detector bug")

    mask = line_masker(Broken(MaskingPolicy(), key=b"test-key-0123456789abcdef"))
    assert mask(f"mysql -pS3cret {CARD}") == MaskedText(WITHHELD)


def test_log_lines_and_tracebacks_are_masked() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("gatehouse-test-masked-log")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        mask_logs(line_masker(ENGINE), logger)
        mask_logs(line_masker(ENGINE), logger)  # again: one filter, not two
        assert len(handler.filters) == 1
        logger.error("upstream said %s", f"no such user {MAIL}")
        try:
            raise ValueError(f"bad card {CARD}")
        except ValueError:
            logger.exception("failed for key %s", AWS)
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert_clean(written, "the log")
    assert "no such user [MASKED:email]" in written
    assert "ValueError: bad card [MASKED:credit_card]" in written


def test_nul_only_output_is_recorded_without_masking_in_order() -> None:
    stage, recorder, _ = line_recording(line_bytes=64)
    stage.feed(b"line one", False)
    for _ in range(19):  # a few NULs a chunk (more would be binary output)
        stage.feed(b"\0\0\0", False)  # past the size bound: what is held goes, masked
    assert bytes(recorder.output) == b"line one" + b"\0" * 57
    for _ in range(22):
        stage.feed(b"\0\0\0", False)  # NULs only this time: straight to the recording
    assert bytes(recorder.output) == b"line one" + b"\0" * 57 + b"\0" * 66


def _binary_recording(binary: str) -> tuple[LineRecording, FakeRecorder]:
    engine = MaskingEngine(
        MaskingPolicy(detectors=BUILTIN_DETECTORS, binary=binary),  # type: ignore[arg-type]
        key=b"test-key-0123456789abcdef",
    )
    recorder = FakeRecorder(SessionMeta("s", "alice", "web", "", "run"), 80, 24, "xterm")
    stage = LineRecording(recorder, lambda s: StreamMasker(engine, stream=s), binary_sticky=True)  # type: ignore[arg-type]
    return stage, recorder


def test_binary_output_is_recorded_as_its_size_and_hash_never_masked_as_text() -> None:
    blob = random.Random(1).randbytes(20000) + b" K@B.UZ " + random.Random(2).randbytes(9000)
    stage, recorder = _binary_recording("pass")
    shown = stage.feed(b"card 4111 1111 1111 1111\n", False) + stage.feed(blob, False)
    stage.end()
    assert shown == b"card 4111 1111 1111 1111\n" + blob  # the live masker's job, not this one
    digest = hashlib.sha256(blob).hexdigest()
    assert bytes(recorder.output) == (
        b"card [MASKED:credit_card]\n"
        + f"\r\n[gatehouse: {len(blob)} bytes of binary output, sha256 {digest}]\r\n".encode()
    )


def test_refused_binary_output_is_recorded_as_refused() -> None:
    stage, recorder = _binary_recording("refuse")
    stage.feed(b"starting\n", False)
    stage.feed(bytes(5000), False)
    stage.end()
    assert bytes(recorder.output) == (
        b"starting\n\r\n[gatehouse: binary output refused (binary: refuse): 5000 bytes not shown]\r\n"
    )


def test_a_log_call_that_cannot_be_formatted_writes_no_argument() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("gatehouse-test-bad-log")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        mask_logs(line_masker(ENGINE), logger)
        logger.error("two places %s %s", f"mysql -p{AWS}")
    finally:
        logger.removeHandler(handler)
    assert "log message withheld" in stream.getvalue()
    assert AWS not in stream.getvalue()


@settings(max_examples=150, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=80), max_size=12),
    waits=st.lists(st.floats(min_value=0, max_value=12), min_size=12, max_size=12),
)
def test_no_chunking_or_bound_leaves_a_piece_of_a_value(
    cuts: list[int], waits: list[float]
) -> None:
    text = f"$ echo {CARD} {MAIL}\r\n{CARD}\r\n$ typed {AWS} ".encode()
    stage, recorder, clock = line_recording(line_bytes=32)
    at = 0
    for step, cut in enumerate([*sorted(set(cuts)), len(text)]):
        stage.feed(text[at:cut], False)
        at = max(at, cut)
        clock.now += waits[step % len(waits)]
        stage.flush(False)
    stage.end()
    assert_clean(bytes(recorder.output), "the recording")


def test_the_size_bound_counts_the_unfinished_line_only() -> None:
    stage, recorder, _ = line_recording(line_bytes=64)
    stage.feed(b"complete line\r\n" * 20 + b"card 4111 1111", False)
    assert bytes(recorder.output) == b"complete line\r\n" * 20
    stage.feed(b" 1111 1111\r\n", False)
    assert bytes(recorder.output).endswith(b"card [MASKED:credit_card]\r\n")


def _pair(linked: bool) -> tuple[LineRecording, MaskingFilter, FakeRecorder]:
    stage, recorder, _ = line_recording()
    live = MaskingFilter(ENGINE)
    if linked:
        live.premasks = stage.premasks
    return stage, live, recorder


def _through(stage: LineRecording, live: MaskingFilter, chunks: list[bytes]) -> bytes:
    out = b"".join(live.feed(stage.feed(chunk, False), False) for chunk in chunks)
    stage.end()
    live.end()
    return out + live.flush(False)


def test_whole_lines_masked_for_the_recording_are_shown_without_masking_them_again() -> None:
    lines = f"order 1 {CARD} {MAIL}\r\nkey {AWS}\r\n".encode() * 40
    chunks = [lines[:1000], lines[1000:2500], lines[2500:] + b"$ "]
    stage, live, recorder = _pair(linked=True)
    shown = _through(stage, live, chunks)
    _, alone, _ = _pair(linked=False)
    assert shown == b"".join(alone.feed(c, False) for c in chunks) + alone.flush(False)
    assert stage.premasks.reused > len(lines) * 0.9
    assert live.counter.counts() == alone.counter.counts() == {
        "aws_access_key_id": 40, "credit_card": 40, "email": 40,
    }  # fmt: skip
    assert live.proofs == alone.proofs
    assert_clean(shown, "the live output")
    assert_clean(bytes(recorder.output), "the recording")


@settings(max_examples=150, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=12))
def test_reusing_the_recordings_lines_shows_what_masking_again_shows(cuts: list[int]) -> None:
    text = (
        f"$ echo {CARD} {MAIL}\r\n{CARD}\r\nlog: user {MAIL} key {AWS}\r\n"
        f"\x1b[32mok\x1b[0m {CARD}\r\n$ typed {AWS} "
    ).encode() * 2
    chunks = [text[a:b] for a, b in itertools.pairwise([0, *sorted(set(cuts)), len(text)])]
    stage, live, _ = _pair(linked=True)
    shown = _through(stage, live, chunks)
    _, alone, _ = _pair(linked=False)
    alone.end()
    expected = b"".join(alone.feed(c, False) for c in chunks) + alone.flush(False)
    assert_clean(shown, "the live output")
    assert shown == expected
    assert live.counter.counts() == alone.counter.counts()


def _shows_card(output: bytes, cols: int) -> list[str]:
    screen = pyte.Screen(cols, 24)
    pyte.ByteStream(screen).feed(output)
    return [line for line in screen.display if "4111111111111111" in line.replace(" ", "")]


async def test_a_card_drawn_across_a_wrapped_row_after_a_resize_is_masked_live_and_recorded() -> (
    None
):
    rig = Rig()
    session = await masked_rig_open(rig)
    upstream = rig.target.upstream
    task = await rig.running(session)
    session.relay.size_changed(40, 24)  # the user's window narrows: rows wrap at 40 now
    upstream.prints(b"a" * 40 + b" " * 15 + b"1111")
    session.relay._flush_filters()
    upstream.prints(b"\x1b[1G4111 1111 1111 \r\n")
    upstream.exits(0)
    await asyncio.wait_for(task, WAIT)
    assert not _shows_card(bytes(rig.terminal.screen), 40)
    assert not _shows_card(bytes(rig.recorders.recorder.output), 40)
    assert b"[MASKED" in bytes(rig.terminal.screen)
    assert rig.recorders.recorder.resizes == [(40, 24)]
