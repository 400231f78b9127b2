"""The recording store: create, list, open, export, import, delete, search; and purity."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from broker.common.errors import RecordingError
from recordings.asciicast import Event, Header, SessionMeta, read_recording
from recordings.replay import render_text
from recordings.store import RecordingStore, check_id

CASTS = Path(__file__).parents[2] / "data" / "casts"


def make(store: RecordingStore, sid: str, text: str, *, ts: int = 1_700_000_000) -> str:
    header = Header(40, 6, ts, "xterm", SessionMeta(sid, user="alice", connection="web-1"))
    writer = store.create(header)
    writer.output(0.2, "$ ")
    writer.marker(0.5, f"echo {text}")
    writer.output(0.6, f"echo {text}\r\n{text}\r\n$ ")
    writer.output(2.0, "")
    return writer.close()


def test_create_list_open_and_hash(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    digest = make(store, "s-old", "alpha", ts=100)
    make(store, "s-new", "beta", ts=200)
    listed = store.list()
    assert [r.session_id for r in listed] == ["s-new", "s-old"]
    assert listed[1].header.meta is not None
    assert listed[1].header.meta.connection == "web-1"
    assert store.sha256("s-old") == digest
    player = store.open("s-old")
    assert "alpha" in render_text(player.screen_at(1.0))
    assert [m.label for m in player.commands()] == ["echo alpha"]


def test_list_skips_malformed_files(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    make(store, "good", "x")
    (tmp_path / "bad.cast").write_text("garbage\n")
    assert [r.session_id for r in store.list()] == ["good"]


def test_create_refuses_duplicates_and_missing_meta(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    make(store, "s1", "x")
    with pytest.raises(RecordingError, match="exists"):
        store.create(Header(10, 5, meta=SessionMeta("s1")))
    with pytest.raises(RecordingError, match="metadata"):
        store.create(Header(10, 5))


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden", "x.cast", "a b", "é", "x" * 200])
def test_ids_that_could_escape_are_refused(bad: str) -> None:
    with pytest.raises(RecordingError, match="invalid recording id"):
        check_id(bad)


@pytest.mark.parametrize("method", ["open", "sha256", "delete"])
def test_unknown_ids_are_errors(tmp_path: Path, method: str) -> None:
    with pytest.raises(RecordingError, match="no recording"):
        getattr(RecordingStore(tmp_path), method)("nope")


def test_export_copies_the_exact_file(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "store")
    digest = make(store, "s1", "x")
    out = store.export("s1", tmp_path / "out.cast")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    assert read_recording(out).header.width == 40


def test_import_stock_cast_plays_and_drops_input(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    stock = tmp_path / "stock.cast"
    stock.write_text(
        '{"version": 2, "width": 30, "height": 5}\n'
        '[0.1, "o", "$ "]\n[0.4, "i", "hunter2"]\n[0.5, "o", "done\\r\\n"]\n'
    )
    sid = store.import_cast(stock, session_id="imp-1", user="bob")
    assert sid == "imp-1"
    rec = read_recording(store.path(sid))
    assert [e.code for e in rec.events] == ["o", "o"]
    assert "hunter2" not in store.path(sid).read_text()
    assert rec.header.meta is not None
    assert rec.header.meta.imported_from == "stock.cast"
    assert "$ done" in render_text(store.open(sid).screen_at(1.0))
    with pytest.raises(RecordingError, match="exists"):
        store.import_cast(stock, session_id="imp-1")


def test_import_real_capture_and_search_it(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    sid = store.import_cast(CASTS / "vim.cast")
    hits = store.search("tcpmux")
    assert [h.session_id for h in hits] == [sid]
    assert "tcpmux" in render_text(store.open(sid).screen_at(hits[0].match.time))


def test_import_refuses_garbage(tmp_path: Path) -> None:
    (tmp_path / "g.cast").write_text("not a cast\n")
    with pytest.raises(RecordingError):
        RecordingStore(tmp_path / "s").import_cast(tmp_path / "g.cast")
    assert list((tmp_path / "s").iterdir()) == []


def test_delete_returns_hash_and_removes_sidecars(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    digest = make(store, "s1", "x")
    assert store.delete("s1") == digest
    assert list(tmp_path.iterdir()) == []


def test_expired_lists_recordings_started_before(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    make(store, "old", "x", ts=100)
    make(store, "new", "x", ts=10_000)
    assert [r.session_id for r in store.expired(5_000)] == ["old"]


def test_search_across_recordings_and_restrict_to_ids(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    make(store, "a", "needle-1")
    make(store, "b", "other")
    make(store, "c", "NEEDLE-2")
    assert sorted({m.session_id for m in store.search("needle")}) == ["a", "c"]
    assert [m.session_id for m in store.search("needle", session_ids=["c"])] == ["c"] * 3
    assert {m.match.kind for m in store.search("needle-1")} == {"command", "screen"}
    assert store.search("needle", ignore_case=False) != store.search("needle")
    assert len(store.search("e", limit=3)) == 3
    assert store.search("absent") == []


def test_recordings_never_import_textual() -> None:
    code = (
        "import sys, recordings.store, recordings.replay, recordings.index;"
        "sys.exit(1 if 'textual' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_opening_a_live_recording_does_not_corrupt_its_index(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    writer = store.create(Header(40, 6, 5, "xterm", SessionMeta("live")))
    writer.output(0.1, "first-part\r\n")
    writer.maybe_flush(10.0)
    assert "first-part" in render_text(store.open("live").screen_at(1.0))  # rebuilds sidecars
    writer.output(2.0, "second-part\r\n")
    writer.close()
    player = store.open("live")
    assert [m.line_text for m in player.search("second-part")] == ["second-part"]
    assert [m.line_text for m in player.search("first-part")] == ["first-part"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.cast", "live.idx", "live.txt"]


@pytest.mark.parametrize("size", ["0x0", "80x", "2000x10"])
def test_writer_refuses_bad_resize_events(tmp_path: Path, size: str) -> None:
    writer = RecordingStore(tmp_path).create(Header(40, 6, 5, "xterm", SessionMeta("r")))
    with pytest.raises(RecordingError):
        writer.write(Event(0.1, "r", size))
    writer.close()
