"""The pure core: canonical encoding, time format, record parsing, event tables, no I/O imports."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.auditchain.canonical import (
    DOMAIN,
    canonical_bytes,
    chain_hash,
    format_time,
    parse_time,
)
from broker.auditchain.events import TABLES, Action, table_for
from broker.auditchain.record import (
    RecordFormatError,
    checked_details,
    parse_checkpoint,
    parse_record,
)
from broker.auditchain.signing import KeyRing, SignatureError, Signer, key_id_for
from tests.unit.audit.conftest import KEY, OTHER_KEY

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",))),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)  # fmt: skip


def test_canonical_bytes_are_sorted_compact_utf8() -> None:
    assert canonical_bytes({"b": 1, "a": "é", "c": [1, {"z": None, "y": True}]}) == (
        '{"a":"é","b":1,"c":[1,{"y":true,"z":null}]}'.encode()
    )


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), object(), {1, 2}, b"bytes"])
def test_canonical_bytes_refuse_non_json(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        canonical_bytes({"x": bad})


def test_chain_hash_is_domain_separated() -> None:
    import hashlib

    assert chain_hash(b"{}") == hashlib.sha256(DOMAIN + b"{}").hexdigest()
    assert chain_hash(b"{}") != hashlib.sha256(b"{}").hexdigest()


def test_time_format() -> None:
    moment = datetime(2025, 1, 31, 13, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(moment) == "2025-01-31T12:00:00.000005Z"
    assert parse_time("2025-01-31T12:00:00.000005Z") == moment
    assert format_time(datetime(2025, 1, 1)) == "2025-01-01T00:00:00.000000Z"


@pytest.mark.parametrize(
    "bad",
    ["2025-01-31T12:00:00Z", "2025-01-31 12:00:00.000000Z", "2025-01-31T12:00:00.000000+00:00", ""],
)
def test_parse_time_refuses_other_formats(bad: str) -> None:
    with pytest.raises(ValueError, match="not an audit time"):
        parse_time(bad)


@given(details=st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_sealed_records_parse_back_identically(details: dict[str, object]) -> None:
    clean = checked_details("alice", "command.run", "web-1", details)
    record = Signer(KEY).seal(
        seq=7, actor="alice", action="command.run", target="web-1", details=clean, prev="a" * 64
    )
    parsed = parse_record(record.canonical())
    assert parsed == record
    KeyRing([KEY.public_key()]).verify_record(parsed)


@given(junk=st.binary(max_size=200))
def test_parse_record_never_crashes_on_junk(junk: bytes) -> None:
    with contextlib.suppress(RecordFormatError):
        parse_record(junk)


def good_record() -> dict[str, object]:
    record = Signer(KEY).seal(
        seq=3, actor="a", action="command.run", target="t", details={}, prev="b" * 64
    )
    return record.to_dict()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seq": 0}, "seq is not a positive integer"),
        ({"seq": True}, "seq is not a positive integer"),
        ({"seq": "3"}, "seq is not a positive integer"),
        ({"time": "yesterday"}, "time is not"),
        ({"actor": 5}, "actor is not a string"),
        ({"action": "Bad Action"}, "action is not a dotted name"),
        ({"details": []}, "details is not an object"),
        ({"prev": "B" * 64}, "prev is not 64 hex"),
        ({"prev": "b" * 63}, "prev is not 64 hex"),
        ({"key_id": "xyz"}, "key_id is not 16 hex"),
        ({"sig": None}, "sig is not a string"),
        ({"extra": 1}, "fields are"),
    ],
)
def test_parse_record_negatives(change: dict[str, object], message: str) -> None:
    data = good_record() | change
    with pytest.raises(RecordFormatError, match=message):
        parse_record(canonical_bytes(data))


def test_parse_record_missing_field_and_non_object() -> None:
    data = good_record()
    del data["target"]
    with pytest.raises(RecordFormatError, match="fields are"):
        parse_record(canonical_bytes(data))
    with pytest.raises(RecordFormatError, match="not a JSON object"):
        parse_record(b"[1]")


def test_duplicate_key_is_non_canonical() -> None:
    line = canonical_bytes(good_record())
    with pytest.raises(RecordFormatError, match="non-canonical"):
        parse_record(line[:-1] + b',"actor":"a"}')


@pytest.mark.parametrize(
    ("sig", "message"),
    [("!!!", "not base64"), ("AAAA", "not 64 bytes"), ("A" * 86 + "==", "bad signature")],
)
def test_signature_negatives(sig: str, message: str) -> None:
    record = parse_record(canonical_bytes(good_record() | {"sig": sig}))
    with pytest.raises(SignatureError, match=message):
        KeyRing([KEY.public_key()]).verify_record(record)


def test_unknown_key() -> None:
    record = parse_record(canonical_bytes(good_record()))
    with pytest.raises(SignatureError, match="unknown key"):
        KeyRing([OTHER_KEY.public_key()]).verify_record(record)


def test_key_id_is_sha256_prefix_of_raw_key() -> None:
    import hashlib

    from broker.auditchain.signing import raw_public_bytes

    pub = KEY.public_key()
    assert key_id_for(pub) == hashlib.sha256(raw_public_bytes(pub)).hexdigest()[:16]


def test_checkpoint_parse_and_verify() -> None:
    point = Signer(KEY).checkpoint(seq=5, hash_="c" * 64, segment="audit-000001.jsonl")
    parsed = parse_checkpoint(point.line()[:-1])
    KeyRing([KEY.public_key()]).verify_checkpoint(parsed)
    with pytest.raises(RecordFormatError, match="checkpoint fields"):
        parse_checkpoint(canonical_bytes({"action": "audit.checkpoint"}))
    with pytest.raises(RecordFormatError, match="fields"):
        parse_checkpoint(canonical_bytes(good_record()))


def test_every_action_has_a_table_and_names_are_valid() -> None:
    for action in Action:
        assert table_for(action) in TABLES
        checked_details("a", action, "t", {})
    assert table_for("login.success") == "logins"
    assert table_for("policy.denied") == "denials"
    assert table_for("approval.anything") == "approvals"
    assert table_for("sql.statement") == "statements"
    assert table_for("broker.restart") == "system"
    assert table_for("brand.new") == "system"


def test_core_imports_no_io_or_ui_modules() -> None:
    code = (
        "import sys, broker.auditchain, broker.auditchain.tables, broker.auditchain.controls;"
        "bad = [m for m in ('textual', 'asyncio', 'socket', 'broker.auditlog') if m in sys.modules];"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert json.loads(out.stdout.strip().replace("'", '"')) == []


def test_audit_time_sorts_as_time() -> None:
    a = format_time(datetime(2025, 1, 1, 9, tzinfo=UTC))
    b = format_time(datetime(2025, 1, 1, 10, tzinfo=UTC))
    assert a < b
