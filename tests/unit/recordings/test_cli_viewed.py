"""Every way the CLI reads a recording (`show`, `screen`, `export`, `play`) is audited as
`recording.viewed` with the CLI user as actor, before anything is shown."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import pytest

import tui.cli as tui_cli
from broker.cli import main
from broker.runtime.provision import init_state
from recordings.replay import Player
from recordings.store import RecordingStore
from tests.tui.replay_fakes import write_session

T0 = 1_700_000_000


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = init_state(tmp_path / "gh")
    write_session(RecordingStore(tmp_path / "gh" / "state" / "recordings"), "s1", ts=T0)
    return path


def viewed(config: Path) -> list[dict[str, Any]]:
    records = []
    for seg in sorted((config.parent / "state" / "audit").glob("audit-*.jsonl")):
        records += [json.loads(line) for line in seg.read_text().splitlines() if line.strip()]
    return [r for r in records if r["action"] == "recording.viewed"]


@pytest.mark.parametrize(
    ("args", "via"),
    [
        (["show", "s1"], "recordings show"),
        (["show", "s1", "--json"], "recordings show"),
        (["screen", "s1", "--at", "0.5"], "recordings screen"),
        (["export", "s1", "-o", "OUT"], "recordings export"),
    ],
)
def test_reading_a_recording_is_audited_as_viewed(
    config: Path, tmp_path: Path, args: list[str], via: str
) -> None:
    args = [str(tmp_path / "out.cast") if a == "OUT" else a for a in args]
    assert main(["recordings", *args, "-c", str(config)]) == 0
    (record,) = viewed(config)
    assert record["actor"] == getpass.getuser()
    assert record["target"] == "s1"
    assert record["details"]["via"] == via


def test_play_is_audited_before_the_player_opens(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_before_play: list[int] = []

    def player(_: Player, title: str, start: float) -> None:
        seen_before_play.append(len(viewed(config)))

    monkeypatch.setattr(tui_cli, "_play", player)  # what `main` hands `recordings play`
    assert main(["recordings", "play", "s1", "--at", "2", "-c", str(config)]) == 0
    assert seen_before_play == [1]
    (record,) = viewed(config)
    assert record["details"] == {"via": "recordings play", "at": 2.0}


def test_nothing_is_shown_when_the_view_cannot_be_audited(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (config.parent / "state" / "keys" / "audit_ed25519").unlink()
    assert main(["recordings", "screen", "s1", "--at", "0.5", "-c", str(config)]) != 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "gatehouse" in err


def test_an_unknown_recording_is_not_audited(config: Path) -> None:
    for args in (["show", "nope"], ["screen", "nope", "--at", "1"], ["export", "nope", "-o", "x"]):
        assert main(["recordings", *args, "-c", str(config)]) == 1
    assert viewed(config) == []
