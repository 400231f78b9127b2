"""The tamper matrix: every kind of change to a log is detected and named at the right record."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.auditchain.canonical import chain_hash
from broker.auditchain.record import parse_record
from broker.auditchain.signing import Signer
from broker.auditlog.segments import verify_log
from broker.common.errors import AuditVerificationError
from tests.unit.audit.conftest import KEY, OTHER_KEY, build_log

PUB = KEY.public_key()


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def seg(log_dir: Path, n: int) -> Path:
    return log_dir / f"audit-{n:06d}.jsonl"


def seq_of(line: bytes) -> int:
    return int(json.loads(line)["seq"])


def failure(log_dir: Path, **kwargs: object) -> AuditVerificationError:
    with pytest.raises(AuditVerificationError) as info:
        verify_log(log_dir, PUB, **kwargs)  # type: ignore[arg-type]
    return info.value


def test_pristine_log_verifies_in_both_modes(log_dir: Path) -> None:
    for every in (False, True):
        report = verify_log(log_dir, PUB, every_signature=every)
        assert report.records == 155
        assert (report.first_seq, report.last_seq, report.segments) == (1, 155, 5)
        assert report.checkpoints_matched == 3
    assert verify_log(log_dir, PUB).signatures_checked < 10


def test_changed_detail_is_a_bad_signature_on_that_record(log_dir: Path) -> None:
    path = seg(log_dir, 2)
    body = lines(path)
    body[5] = body[5].replace(b"ls /srv/", b"rm /srv/")
    path.write_bytes(b"".join(body))
    error = failure(log_dir)
    assert "bad signature" in str(error)
    assert error.seq == seq_of(body[5])
    assert error.segment == "audit-000002.jsonl"
    assert "audit-000002.jsonl:6" in str(error)


def test_changed_last_record_is_caught_by_the_final_signature_check(log_dir: Path) -> None:
    path = seg(log_dir, 5)
    body = lines(path)
    body[-1] = body[-1].replace(b'"actor":"alice"', b'"actor":"mallo"')
    path.write_bytes(b"".join(body))
    error = failure(log_dir)
    assert "bad signature" in str(error)
    assert error.seq == 155


def test_deleted_record_is_a_seq_gap(log_dir: Path) -> None:
    path = seg(log_dir, 3)
    body = lines(path)
    gone = seq_of(body[10])
    del body[10]
    path.write_bytes(b"".join(body))
    error = failure(log_dir)
    assert "seq gap" in str(error)
    assert error.seq == gone


def test_inserted_copy_of_an_earlier_record_is_a_replay(log_dir: Path) -> None:
    path = seg(log_dir, 3)
    body = lines(path)
    body.insert(12, lines(seg(log_dir, 1))[4])
    path.write_bytes(b"".join(body))
    error = failure(log_dir)
    assert "reordered or replayed record" in str(error)
    assert error.seq == seq_of(body[11]) + 1


def test_inserted_forged_record_with_right_seq_and_prev_is_a_bad_signature(log_dir: Path) -> None:
    path = seg(log_dir, 2)
    body = lines(path)
    before = parse_record(body[7].rstrip(b"\n"))
    forged = Signer(OTHER_KEY).seal(
        seq=before.seq + 1,
        actor="alice",
        action="command.run",
        target="web-1",
        details={},
        prev=chain_hash(body[7].rstrip(b"\n")),
    )
    # Claim to be signed by the trusted key.
    data = forged.to_dict() | {"key_id": before.key_id}
    body.insert(8, json.dumps(data, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    path.write_bytes(b"".join(body))
    error = failure(log_dir)
    assert "bad signature" in str(error)
    assert error.seq == before.seq + 1


def test_swapped_records_are_reported_as_out_of_order(log_dir: Path) -> None:
    path = seg(log_dir, 4)
    body = lines(path)
    body[3], body[4] = body[4], body[3]
    path.write_bytes(b"".join(body))
    error = failure(log_dir)
    assert "reordered" in str(error)
    assert error.seq == seq_of(body[4])


def test_record_from_another_log_with_the_same_key_breaks_the_chain(
    log_dir: Path, tmp_path: Path
) -> None:
    other = build_log(tmp_path / "other", KEY, records=40)
    path = seg(log_dir, 1)
    body = lines(path)
    body[9] = lines(seg(other, 1))[9]
    path.write_bytes(b"".join(body))
    error = failure(log_dir)
    assert "broken chain" in str(error)
    assert error.seq == 10


def test_segment_truncated_at_a_line_boundary(log_dir: Path) -> None:
    path = seg(log_dir, 2)
    path.write_bytes(b"".join(lines(path)[:-3]))
    error = failure(log_dir)
    assert "seq gap" in str(error)
    assert error.segment == "audit-000003.jsonl"


def test_segment_truncated_inside_a_line(log_dir: Path) -> None:
    path = seg(log_dir, 2)
    data = path.read_bytes()
    path.write_bytes(data[:-40])
    error = failure(log_dir)
    assert "truncated line" in str(error)
    assert error.segment == "audit-000002.jsonl"


def test_missing_middle_segment(log_dir: Path) -> None:
    seg(log_dir, 3).unlink()
    error = failure(log_dir)
    assert "audit-000003.jsonl: segment missing" in str(error)


def test_missing_first_segment(log_dir: Path) -> None:
    seg(log_dir, 1).unlink()
    assert "segment missing" in str(failure(log_dir))


def test_replayed_segment_in_place_of_another(log_dir: Path) -> None:
    shutil.copy(seg(log_dir, 1), seg(log_dir, 3))
    error = failure(log_dir)
    assert "replayed or renamed segment" in str(error)
    assert error.segment == "audit-000003.jsonl"


def test_replayed_segment_appended_as_a_new_one(log_dir: Path) -> None:
    shutil.copy(seg(log_dir, 2), seg(log_dir, 6))
    error = failure(log_dir)
    assert "replayed or renamed segment" in str(error)
    assert error.segment == "audit-000006.jsonl"


def test_segment_without_its_header(log_dir: Path) -> None:
    path = seg(log_dir, 4)
    path.write_bytes(b"".join(lines(path)[1:]))
    assert "bad segment header" in str(failure(log_dir))


def test_empty_segment(log_dir: Path) -> None:
    seg(log_dir, 6).write_bytes(b"")
    assert "empty segment" in str(failure(log_dir))


def test_truncated_tail_is_caught_by_the_checkpoint(log_dir: Path) -> None:
    seg(log_dir, 5).unlink()
    path = seg(log_dir, 4)
    path.write_bytes(b"".join(lines(path)[:-20]))
    error = failure(log_dir)
    assert "truncated tail" in str(error)
    assert "checkpoint names record 124" in str(error)


def test_truncated_tail_without_checkpoints_is_not_provable(log_dir: Path) -> None:
    seg(log_dir, 5).unlink()
    report = verify_log(log_dir, PUB, checkpoints=[])
    assert report.last_seq == 136


def test_external_checkpoints_catch_a_rewritten_local_checkpoint_file(log_dir: Path) -> None:
    from broker.auditlog.segments import load_checkpoints

    sink_copy = load_checkpoints(log_dir / "checkpoints.jsonl")
    (log_dir / "checkpoints.jsonl").write_bytes(b"")
    seg(log_dir, 5).unlink()
    path = seg(log_dir, 4)
    path.write_bytes(b"".join(lines(path)[:-20]))
    verify_log(log_dir, PUB)  # the local file was emptied too
    with pytest.raises(AuditVerificationError, match="truncated tail"):
        verify_log(log_dir, PUB, checkpoints=sink_copy)


def test_forged_checkpoint_signature(log_dir: Path) -> None:
    path = log_dir / "checkpoints.jsonl"
    body = lines(path)
    data = json.loads(body[1])
    data["seq"] = 9999
    body[1] = json.dumps(data, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    path.write_bytes(b"".join(body))
    error = failure(log_dir)
    assert "checkpoint for record 9999: bad signature" in str(error)


def test_wrong_public_key(log_dir: Path) -> None:
    with pytest.raises(AuditVerificationError, match="unknown key") as info:
        verify_log(log_dir, OTHER_KEY.public_key())
    assert info.value.seq is not None


def test_malformed_json_line(log_dir: Path) -> None:
    path = seg(log_dir, 2)
    body = lines(path)
    body[3] = b'{"seq": oops\n'
    path.write_bytes(b"".join(body))
    error = failure(log_dir)
    assert "malformed JSON" in str(error)
    assert error.seq == seq_of(body[2]) + 1


def test_non_canonical_but_equal_json(log_dir: Path) -> None:
    path = seg(log_dir, 2)
    body = lines(path)
    body[3] = json.dumps(json.loads(body[3]), sort_keys=True).encode() + b"\n"
    path.write_bytes(b"".join(body))
    assert "non-canonical encoding" in str(failure(log_dir))


def test_extra_field(log_dir: Path) -> None:
    path = seg(log_dir, 2)
    body = lines(path)
    data = json.loads(body[3]) | {"note": "x"}
    body[3] = json.dumps(data, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    path.write_bytes(b"".join(body))
    assert "malformed record: fields are" in str(failure(log_dir))


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(AuditVerificationError, match="no audit log here"):
        verify_log(tmp_path / "nope", PUB)


def flip(log_dir: Path, segment: int, offset: int, xor: int) -> None:
    path = seg(log_dir, segment)
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= xor
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("offset", range(0, 12_000, 331))
def test_byte_flips_give_the_same_verdict_in_both_modes(
    pristine_log: Path, tmp_path: Path, offset: int
) -> None:
    messages = []
    for every in (False, True):
        target = tmp_path / f"copy-{every}"
        shutil.copytree(pristine_log, target)
        flip(target, 2, offset, 0x01)
        with pytest.raises(AuditVerificationError) as info:
            verify_log(target, PUB, every_signature=every)
        messages.append((str(info.value), info.value.seq))
    assert messages[0] == messages[1]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    segment=st.integers(1, 5),
    offset=st.integers(0, 20_000),
    xor=st.integers(1, 255),
)
def test_any_single_byte_flip_is_detected(
    pristine_log: Path,
    tmp_path_factory: pytest.TempPathFactory,
    segment: int,
    offset: int,
    xor: int,
) -> None:
    target = tmp_path_factory.mktemp("flip") / "audit"
    shutil.copytree(pristine_log, target)
    flip(target, segment, offset, xor)
    with pytest.raises(AuditVerificationError) as info:
        verify_log(target, PUB)
    assert info.value.segment.startswith("audit-0000")
    shutil.rmtree(target.parent)


@pytest.mark.parametrize("every", [False, True])
def test_rechained_forgery_names_the_first_forged_record(log_dir: Path, every: bool) -> None:
    path = seg(log_dir, 5)
    body = [line.rstrip(b"\n") for line in lines(path)]
    data = json.loads(body[2])
    data["details"]["command"] = "cat /etc/shadow"
    body[2] = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    for position in range(3, len(body)):  # fix every later prev, as a forger would
        later = json.loads(body[position])
        later["prev"] = chain_hash(body[position - 1])
        body[position] = json.dumps(later, sort_keys=True, separators=(",", ":")).encode()
    path.write_bytes(b"\n".join(body) + b"\n")
    error = failure(log_dir, every_signature=every)
    assert "bad signature" in str(error)
    assert error.seq == data["seq"]
