"""Enrolment records: stored 0600, found until expiry, removed by id/user/key; junk is not enrolled."""

from __future__ import annotations

import stat
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from broker.identity.enrolment import Enrolment, EnrolmentStore, parse_enrolments
from broker.identity.qr import qr_lines


def record(**over: object) -> Enrolment:
    base = dict(
        id="abc123",
        user="alice",
        fingerprint="SHA256:x",
        issuer="https://i",
        subject="s1",
        groups=("engineers",),
        enrolled_at=100.0,
        expires_at=200.0,
    )
    base.update(over)
    return Enrolment(**base)  # type: ignore[arg-type]


def test_found_until_expiry_then_not(tmp_path: Path) -> None:
    store = EnrolmentStore(tmp_path)
    store.put(record())
    assert store.find("alice", "SHA256:x", 199.0) == record()
    assert store.find("alice", "SHA256:x", 200.0) is None
    assert store.find("bob", "SHA256:x", 150.0) is None
    assert store.find("alice", "SHA256:y", 150.0) is None
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_put_replaces_the_same_key_and_remove_by_any_name(tmp_path: Path) -> None:
    store = EnrolmentStore(tmp_path)
    store.put(record())
    replaced = store.put(record(id="def456", expires_at=300.0))
    assert [r.id for r in replaced] == ["abc123"]
    store.put(record(id="ghi789", user="bob", fingerprint="SHA256:b"))
    assert [r.id for r in store.remove("SHA256:b")] == ["ghi789"]
    assert [r.id for r in store.remove("alice")] == ["def456"]
    assert store.all() == []


def test_nothing_secret_is_stored(tmp_path: Path) -> None:
    store = EnrolmentStore(tmp_path)
    store.put(record(refreshable=True))
    text = store.path.read_text()
    assert "refresh_token" not in text
    assert "id_token" not in text


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=8)
        ),
        max_leaves=30,
    )
)
def test_junk_files_yield_no_enrolment_or_well_typed_ones(data: object) -> None:
    for item in parse_enrolments({"enrolments": data} if not isinstance(data, dict) else data):
        assert isinstance(item.user, str)
        assert item.user
        assert all(isinstance(g, str) for g in item.groups)


def test_qr_is_half_blocks_only_and_square() -> None:
    lines = qr_lines("https://idp.example.test/device?user_code=BCDF-GHJK")
    assert set("".join(lines)) <= {"█", "▀", "▄", " "}
    width = len(lines[0])
    assert all(len(line) == width for line in lines)
    assert abs(width - 2 * len(lines)) <= 2
