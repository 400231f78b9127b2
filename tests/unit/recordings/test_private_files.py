"""Recordings, their sidecars and every export are 0600 (directories 0700), whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from broker.auditchain.signing import Signer
from broker.auditlog.evidence import export_evidence
from broker.auditlog.journal import Journal
from broker.auditlog.sinks import SinkDispatcher
from broker.cli import main
from broker.recording.host import CLOSE, OPEN, OUT, RecorderHost, header_payload
from recordings.asciicast import Header, SessionMeta
from recordings.index import build_index, sidecar_paths
from recordings.store import RecordingStore
from recordings.writer import start_recording
from tests.tui.replay_fakes import CASTS, write_session
from tests.unit.audit.conftest import KEY

HEADER = Header(80, 24, 1_700_000_000, "xterm-256color", SessionMeta("s1", user="alice"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """The loosest umask: any file left to it would be world-readable (and writable)."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def assert_private(*paths: Path) -> None:
    assert {p.name: oct(mode(p)) for p in paths} == {p.name: oct(0o600) for p in paths}


def test_a_store_recording_and_its_sidecars(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "new" / "recordings")
    assert mode(tmp_path / "new" / "recordings") == 0o700
    write_session(store, "s1")
    cast = store.path("s1")
    assert_private(cast, *sidecar_paths(cast))


def test_the_broker_recorder_path(tmp_path: Path) -> None:
    """``start_recording`` in the broker, then the recorder process appends and indexes."""
    path = tmp_path / "s1.cast"
    start_recording(path, HEADER)
    assert_private(path)
    host = RecorderHost(lambda _data: None)
    host.apply(OPEN, 1, 0.0, header_payload(str(path), HEADER))
    host.apply(OUT, 1, 0.5, b"secret output\r\n")
    host.apply(CLOSE, 1, 1.0, b"")
    build_index(path)  # as the broker's index builder does after the session
    assert_private(path, *sidecar_paths(path))


def test_a_rebuilt_index_replaces_loose_sidecars(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    write_session(store, "s1")
    cast = store.path("s1")
    for side in sidecar_paths(cast):
        side.chmod(0o644)
        side.unlink()
    build_index(cast)
    assert_private(*sidecar_paths(cast))


def test_leftover_partial_index_files_are_made_private(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    write_session(store, "s1")
    cast = store.path("s1")
    idx, txt = sidecar_paths(cast)
    leftover = idx.with_suffix(".idx.rebuild")
    leftover.write_bytes(b"old")
    leftover.chmod(0o666)
    idx.unlink()
    store.open("s1")  # rebuilds the missing index through the leftover name
    assert_private(idx, txt)


def test_recordings_export_new_and_existing_destination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rdir = tmp_path / "recordings"
    write_session(RecordingStore(rdir), "s1")
    fresh = tmp_path / "fresh.cast"
    assert main(["recordings", "export", "s1", "-o", str(fresh), "--dir", str(rdir)]) == 0
    assert_private(fresh)
    existing = tmp_path / "existing.cast"
    existing.write_bytes(b"x" * 10_000_000)
    existing.chmod(0o644)
    assert main(["recordings", "export", "s1", "-o", str(existing), "--dir", str(rdir)]) == 0
    assert_private(existing)
    assert existing.read_bytes() == (rdir / "s1.cast").read_bytes()
    capsys.readouterr()


def test_export_onto_the_recording_itself_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rdir = tmp_path / "recordings"
    write_session(RecordingStore(rdir), "s1")
    before = (rdir / "s1.cast").read_bytes()
    code = main(["recordings", "export", "s1", "-o", str(rdir / "s1.cast"), "--dir", str(rdir)])
    assert code == 1
    assert "onto itself" in capsys.readouterr().err
    assert (rdir / "s1.cast").read_bytes() == before


def test_recordings_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rdir = tmp_path / "recordings"
    code = main(
        ["recordings", "import", str(CASTS / "ls-color.cast"), "--id", "imp", "--dir", str(rdir)]
    )
    assert code == 0, capsys.readouterr().err
    cast = rdir / "imp.cast"
    assert_private(cast, *sidecar_paths(cast))
    assert mode(rdir) == 0o700


def test_evidence_export(tmp_path: Path) -> None:
    audit = tmp_path / "state" / "audit"
    journal = Journal(audit, Signer(KEY), SinkDispatcher([]), checkpoint_every=3)
    journal.recover()
    journal.write_batch([("alice", "command.run", "web-1", {"command": "cat secret"})])
    journal.close(checkpoint=False)
    out = tmp_path / "out" / "bundle.zip"
    stale = out.with_name("bundle.zip.partial")
    out.parent.mkdir(mode=0o700)
    stale.write_bytes(b"left by a crash")
    stale.chmod(0o666)
    since = datetime(2000, 1, 1, tzinfo=UTC)
    export_evidence(audit, KEY.public_key(), since, datetime.now(UTC), out)
    assert_private(out)
    assert not stale.exists()
    nested = tmp_path / "new" / "dir" / "bundle.zip"
    export_evidence(audit, KEY.public_key(), since, datetime.now(UTC), nested)
    assert_private(nested)
    assert mode(nested.parent) == 0o700
