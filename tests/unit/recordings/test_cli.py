"""`gatehouse recordings …`: every command, the stock asciinema import, and clear failures."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from broker.cli import main
from broker.recording.cli import parse_moment
from broker.runtime.provision import init_state
from recordings.asciicast import read_recording
from recordings.replay import apply_event
from recordings.store import RecordingStore
from recordings.terminal import Screen, Stream
from recordings.writer import file_sha256
from tests.tui.replay_fakes import CASTS, write_session

T0 = 1_700_000_000


@pytest.fixture
def rdir(tmp_path: Path) -> Path:
    directory = tmp_path / "recordings"
    store = RecordingStore(directory)
    write_session(store, "s1", user="alice", connection="web-1", ts=T0)
    write_session(store, "s2", user="bob", connection="db-1", ts=T0 + 60)
    return directory


def run(capsys: pytest.CaptureFixture[str], rdir: Path, *args: str) -> tuple[int, str, str]:
    code = main(["recordings", *args, "--dir", str(rdir)])
    out, err = capsys.readouterr()
    return code, out, err


def linear_text(cast: Path, t: float) -> str:
    recording = read_recording(cast)
    screen = Screen(recording.header.width, recording.header.height)
    stream = Stream(screen)
    for event in recording.events:
        if event.time > t:
            break
        apply_event(screen, stream, event)
    return "\n".join(row.rstrip() for row in screen.display).rstrip("\n")


# -- list ----------------------------------------------------------------------------------


def test_list_table(capsys: pytest.CaptureFixture[str], rdir: Path) -> None:
    code, out, err = run(capsys, rdir, "list")
    assert code == 0
    assert err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "STARTED", "(UTC)", "USER", "CONNECTION", "KIND", "SIZE"]
    assert lines[1].split()[:4] == ["s2", "2023-11-14T22:14:20Z", "bob", "db-1"]
    assert lines[2].split()[:4] == ["s1", "2023-11-14T22:13:20Z", "alice", "web-1"]


def test_list_json(capsys: pytest.CaptureFixture[str], rdir: Path) -> None:
    code, out, _ = run(capsys, rdir, "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["id"] for r in rows] == ["s2", "s1"]
    assert rows[1]["user"] == "alice"
    assert rows[1]["kind"] == "terminal"
    assert rows[1]["size"] == (rdir / "s1.cast").stat().st_size
    assert (rows[1]["width"], rows[1]["height"]) == (60, 8)


def test_list_empty(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, tmp_path / "none", "list")
    assert code == 0
    assert "no recordings" in out
    assert run(capsys, tmp_path / "none", "list", "--json")[1].strip() == "[]"


def test_list_names_files_it_skips(capsys: pytest.CaptureFixture[str], rdir: Path) -> None:
    (rdir / "broken.cast").write_text('{"version": 1, "width": 80}\n')
    code, out, err = run(capsys, rdir, "list")
    assert code == 0
    assert "s1" in out
    assert "broken" not in out
    assert "skipped broken.cast" in err
    assert "unsupported asciicast version 1" in err


# -- show ----------------------------------------------------------------------------------


def test_show_metadata_commands_hash_and_index(
    capsys: pytest.CaptureFixture[str], rdir: Path
) -> None:
    code, out, _ = run(capsys, rdir, "show", "s1")
    assert code == 0
    fields = dict(line.split(":", 1) for line in out.splitlines() if not line.startswith(" "))
    assert fields["sha256"].strip() == file_sha256(rdir / "s1.cast")
    assert fields["index"].strip() == "up to date"
    assert fields["user"].strip() == "alice"
    assert fields["connection"].strip() == "web-1"
    assert fields["duration"].strip() == "45.0"
    assert fields["commands"].strip() == "3"
    assert "     0:32  cat log" in out
    assert "     0:40  echo needle-42" in out


def test_show_rebuilds_a_missing_index(capsys: pytest.CaptureFixture[str], rdir: Path) -> None:
    (rdir / "s1.idx").unlink()
    code, out, _ = run(capsys, rdir, "show", "s1", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["index"].startswith("rebuilt")
    assert [c["line"] for c in info["commands"]] == ["ls", "cat log", "echo needle-42"]
    assert (rdir / "s1.idx").exists()
    assert json.loads(run(capsys, rdir, "show", "s1", "--json")[1])["index"] == "up to date"


def test_show_stale_index_after_append(capsys: pytest.CaptureFixture[str], rdir: Path) -> None:
    with open(rdir / "s1.cast", "a") as f:
        f.write('[50.0, "m", "late command"]\n')
    info = json.loads(run(capsys, rdir, "show", "s1", "--json")[1])
    assert info["index"].startswith("rebuilt")
    assert info["commands"][-1] == {"time": 50.0, "line": "late command"}


@pytest.mark.parametrize("command", ["show", "screen", "export", "play"])
def test_unknown_id_fails_clearly(
    capsys: pytest.CaptureFixture[str], rdir: Path, tmp_path: Path, command: str
) -> None:
    extra = {"screen": ["--at", "1"], "export": ["-o", str(tmp_path / "x.cast")]}
    code, out, err = run(capsys, rdir, command, "nope", *extra.get(command, []))
    assert code == 1
    assert out == ""
    assert "no recording 'nope'" in err
    assert not (tmp_path / "x.cast").exists()


@pytest.mark.parametrize("bad_id", ["../s1", "s1.cast", "a/b", ".hidden"])
def test_unsafe_ids_are_refused(
    capsys: pytest.CaptureFixture[str], rdir: Path, bad_id: str
) -> None:
    code, _, err = run(capsys, rdir, "show", bad_id)
    assert code == 1
    assert "invalid recording id" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("garbage\n", "broken.cast:1:"),
        ('{"version": 2, "width": 80, "height": 24}\n[1.0, "o"]\n[2.0, "o", "x"]\n', ":2:"),
        ('{"version": 2, "width": 80, "height": 24}\n[2.0, "o", "a"]\n[1.0, "o", "b"]\n', ":3:"),
        ('{"version": 2, "width": 80, "height": 24}\n[0.5, "r", "99999x1"]\n', ":2:"),
        ("", "no complete header line"),
    ],
)
@pytest.mark.parametrize("command", ["show", "screen"])
def test_broken_file_fails_clearly(
    capsys: pytest.CaptureFixture[str], rdir: Path, content: str, message: str, command: str
) -> None:
    (rdir / "broken.cast").write_text(content)
    extra = ["--at", "1"] if command == "screen" else []
    code, out, err = run(capsys, rdir, command, "broken", *extra)
    assert code == 1
    assert out == ""
    assert message in err
    assert "Traceback" not in err


def test_no_directory_and_no_config(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEHOUSE_CONFIG", raising=False)
    assert main(["recordings", "list"]) == 1
    assert "pass -c gatehouse.yaml or --dir" in capsys.readouterr().err


def test_state_dir_from_the_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = init_state(tmp_path / "site")
    write_session(RecordingStore(tmp_path / "site" / "state" / "recordings"), "from-config")
    assert main(["recordings", "list", "-c", str(config)]) == 0
    assert "from-config" in capsys.readouterr().out


# -- export and import ------------------------------------------------------------------------


def test_export_copies_and_asciinema_plays_it(
    capsys: pytest.CaptureFixture[str], rdir: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "out.cast"
    code, out, _ = run(capsys, rdir, "export", "s1", "-o", str(dest))
    assert code == 0
    assert dest.read_bytes() == (rdir / "s1.cast").read_bytes()
    assert file_sha256(dest) in out
    if shutil.which("asciinema") and shutil.which("script"):
        played = subprocess.run(
            ["script", "-qec", f"asciinema cat {dest}", "/dev/null"],
            capture_output=True,
            timeout=30,
            check=True,
        ).stdout.decode()
        assert "log line 19" in played
        assert "needle-42" in played


def test_export_to_a_bad_place_fails(
    capsys: pytest.CaptureFixture[str], rdir: Path, tmp_path: Path
) -> None:
    code, _, err = run(capsys, rdir, "export", "s1", "-o", str(tmp_path / "no" / "dir.cast"))
    assert code == 1
    assert "cannot export" in err


def test_import_stock_asciinema_then_screen_and_show(
    capsys: pytest.CaptureFixture[str], rdir: Path
) -> None:
    code, out, _ = run(capsys, rdir, "import", str(CASTS / "top.cast"), "--user", "carol")
    assert code == 0
    sid = out.strip()
    assert sid.startswith("import-")
    info = json.loads(run(capsys, rdir, "show", sid, "--json")[1])
    assert info["imported_from"] == "top.cast"
    assert info["user"] == "carol"
    assert info["index"] == "up to date"
    duration = info["duration"]
    for at in (0.0, duration / 2, duration):
        code, out, _ = run(capsys, rdir, "screen", sid, "--at", f"{at:.6f}")
        assert code == 0
        assert out.rstrip("\n") == linear_text(CASTS / "top.cast", float(f"{at:.6f}")).rstrip()
    assert "top" in run(capsys, rdir, "screen", sid, "--at", str(duration / 2))[1]


def test_import_with_an_id_and_refusing_a_duplicate(
    capsys: pytest.CaptureFixture[str], rdir: Path
) -> None:
    assert run(capsys, rdir, "import", str(CASTS / "vim.cast"), "--id", "vim-1")[:2] == (
        0,
        "vim-1\n",
    )
    code, _, err = run(capsys, rdir, "import", str(CASTS / "vim.cast"), "--id", "vim-1")
    assert code == 1
    assert "already exists" in err
    code, _, err = run(capsys, rdir, "import", str(CASTS / "vim.cast"), "--id", "../x")
    assert code == 1
    assert "invalid recording id" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json\n", ":1:"),
        ('{"version": 1, "width": 80, "height": 24, "stdout": []}\n', "version 1"),
        ('{"version": 2, "width": 0, "height": 24}\n', "width"),
        ('{"version": 2, "width": 80, "height": 24}\n[1, "o", "a"]\n{}\n[2, "o", "b"]\n', ":3:"),
    ],
)
def test_import_refuses_malformed_files(
    capsys: pytest.CaptureFixture[str], rdir: Path, tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "bad.cast"
    bad.write_text(content)
    before = sorted(p.name for p in rdir.iterdir())
    code, out, err = run(capsys, rdir, "import", str(bad))
    assert code == 1
    assert out == ""
    assert message in err
    assert sorted(p.name for p in rdir.iterdir()) == before


def test_import_missing_file(
    capsys: pytest.CaptureFixture[str], rdir: Path, tmp_path: Path
) -> None:
    code, _, err = run(capsys, rdir, "import", str(tmp_path / "absent.cast"))
    assert code == 1
    assert "no such file" in err


# -- screen ------------------------------------------------------------------------------------


def test_screen_at_moments(capsys: pytest.CaptureFixture[str], rdir: Path) -> None:
    code, out, _ = run(capsys, rdir, "screen", "s1", "--at", "1.5")
    assert code == 0
    assert out == "$ ls\ndocs  notes.txt\n$\n"
    code, out, _ = run(capsys, rdir, "screen", "s1", "--at", "0:41")
    assert out.splitlines()[-2:] == ["needle-42", "$"]
    assert len(out.splitlines()) == 8
    code, out, _ = run(capsys, rdir, "screen", "s1", "--at", "0")
    assert out.strip() == ""


def test_screen_after_the_end_shows_the_last_screen(
    capsys: pytest.CaptureFixture[str], rdir: Path
) -> None:
    code, out, err = run(capsys, rdir, "screen", "s1", "--at", "999")
    assert code == 0
    assert "needle-42" in out
    assert "lasts 45.000 s" in err


@pytest.mark.parametrize("text", ["abc", "-1", "1:2:3:4", "nan", "inf", "", "1:-5"])
def test_bad_moments_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_moment(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("0", 0.0), ("83.5", 83.5), ("1:23", 83.0), ("1:00:01", 3601.0)]
)
def test_moments(text: str, seconds: float) -> None:
    assert parse_moment(text) == seconds


def test_bad_moment_on_the_command_line_exits_2(
    capsys: pytest.CaptureFixture[str], rdir: Path
) -> None:
    with pytest.raises(SystemExit) as exc:
        run(capsys, rdir, "screen", "s1", "--at", "soon")
    assert exc.value.code == 2
    assert "expected seconds" in capsys.readouterr().err


# -- search ------------------------------------------------------------------------------------


def test_search_lists_sessions_and_moments(capsys: pytest.CaptureFixture[str], rdir: Path) -> None:
    code, out, _ = run(capsys, rdir, "search", "NEEDLE")
    assert code == 0
    rows = [line.split(None, 3) for line in out.splitlines()]
    assert {r[0] for r in rows} == {"s1", "s2"}
    assert ["s1", "0:40", "ran", "echo needle-42"] in rows
    assert ["s1", "0:40", "shown", "needle-42"] in rows


def test_search_json_and_case(capsys: pytest.CaptureFixture[str], rdir: Path) -> None:
    code, out, _ = run(capsys, rdir, "search", "log line 07", "--json")
    assert code == 0
    found = json.loads(out)
    assert {m["id"] for m in found} == {"s1", "s2"}
    assert all(m["kind"] == "screen" and 32.0 <= m["time"] <= 32.3 for m in found)
    code, _, err = run(capsys, rdir, "search", "LOG LINE 07", "--case-sensitive")
    assert code == 1
    assert "no recording showed or ran 'LOG LINE 07'" in err


@pytest.mark.parametrize("text", ["absent", "", "two\tcolumns"])
def test_search_without_matches_exits_1(
    capsys: pytest.CaptureFixture[str], rdir: Path, text: str
) -> None:
    code, out, _ = run(capsys, rdir, "search", text)
    assert code == 1
    assert out == ""


def test_play_without_the_tui_player_says_so(
    capsys: pytest.CaptureFixture[str], rdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import broker.recording.cli

    monkeypatch.setattr("broker.cli.PLUGINS", (("broker.recording.cli", "add_commands"),))
    monkeypatch.setattr(broker.recording.cli, "_player_ui", None)
    code, _, err = run(capsys, rdir, "play", "s1")
    assert code == 1
    assert "no interactive player is installed" in err
