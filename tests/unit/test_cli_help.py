"""The `gatehouse` command explains itself: every --help shows -c, errors say where they looked."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from broker.auditlog.cli import human_size
from broker.cli import build_parser, main


def leaf_commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [path]
    found: list[tuple[str, ...]] = []
    for name, child in subs[0].choices.items():
        found += leaf_commands(child, (*path, name))
    return found


COMMANDS = leaf_commands(build_parser())


def test_the_command_tree_is_what_the_contract_names() -> None:
    names = {" ".join(c) for c in COMMANDS}
    for expected in (
        "init", "serve", "check", "demo", "secret set", "audit verify", "audit tail",
        "evidence export", "recordings list", "recordings show", "recordings export",
        "recordings import", "recordings play", "recordings screen", "recordings search",
    ):  # fmt: skip
        assert expected in names


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_every_help_shows_the_config_option_and_a_description(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "-c FILE, --config FILE" in out
    assert "GATEHOUSE_CONFIG" in out
    _usage, _, rest = out.partition("\n\n")
    assert rest.strip().splitlines()[0] != "options:", f"{command} has no description"


def test_no_state_dir_names_where_it_looked_and_what_to_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEHOUSE_CONFIG", raising=False)
    assert main(["audit", "verify"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "gatehouse.yaml") in err
    assert "pass -c" in err
    assert "GATEHOUSE_CONFIG" in err


def test_no_state_dir_names_the_config_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "elsewhere" / "gh.yaml"
    assert main(["audit", "tail", "-c", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err


@pytest.mark.parametrize(
    ("size", "shown"),
    [(0, "0 B"), (900, "900 B"), (2048, "2.0 KiB"), (5 << 20, "5.0 MiB"), (3 << 30, "3.0 GiB")],
)
def test_progress_shows_real_sizes(size: int, shown: str) -> None:
    assert human_size(size) == shown
