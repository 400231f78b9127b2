"""The CLI never hands a user's or a target's control characters to the operator's terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.auditlog.cli import add_commands
from broker.auditlog.keys import generate_signing_key, key_paths
from broker.auditlog.writer import AuditLog
from broker.cli import main
from broker.common.text import (
    EscapingFormatter,
    escape_controls,
    escape_json_controls,
    has_controls,
)
from recordings.asciicast import Header, SessionMeta
from recordings.store import RecordingStore

FORGED = "\r\x1b[2K     7 2026-01-01T00:00:00.000000Z root login.success"
"""Typed as a name: on a raw terminal it erases the line and prints a record of its own."""
HOSTILE = [
    FORGED,
    "\x1b]0;owned\x07title",  # OSC: window title
    "\x1b]52;c;Y2xpcGJvYXJk\x07",  # OSC 52: clipboard
    "\x9b2Kc1-csi",  # 8-bit CSI
    "a\nforged line\x7f",
    "rtl\u202eexe.txt",  # bidi override
    "\x00nul\x08bs\x0bvt\x0cff",
]
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""What must never reach the terminal (tab and line feed are the output's own)."""


# -- the helper ---------------------------------------------------------------------------


@given(st.text())
def test_escaped_text_has_no_controls_and_keeps_the_rest(text: str) -> None:
    shown = escape_controls(text)
    assert not has_controls(shown)
    assert "\n" not in shown
    printable = "".join(c for c in text if not has_controls(c))
    # every printable character survives, in order
    it = iter(shown)
    assert all(c in it for c in printable)


@given(st.text(alphabet=st.characters(exclude_categories=("Cc", "Cf", "Zl", "Zp"))))
def test_printable_text_is_unchanged(text: str) -> None:
    assert escape_controls(text) == text
    assert escape_json_controls(text) == text


@given(st.recursive(st.text(), lambda kids: st.dictionaries(st.text(), kids, max_size=3)))
def test_escaped_json_parses_to_the_same_value(value: object) -> None:
    encoded = escape_json_controls(json.dumps(value, ensure_ascii=False, indent=1))
    assert RAW.search(encoded) is None
    assert json.loads(encoded) == value


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\r\x1b[2Kb", "a\\r\\x1b[2Kb"),
        ("x\ny\tz", "x\\ny\\tz"),
        ("\x9b\x7f\x00", "\\x9b\\x7f\\x00"),
        ("rtl\u202eexe", "rtl\\u202eexe"),
        ("naïve ✓ 日本", "naïve ✓ 日本"),
    ],
)
def test_escapes_read_like_python(raw: str, shown: str) -> None:
    assert escape_controls(raw) == shown


def test_keep_newlines_escapes_every_other_control() -> None:
    assert escape_controls("a\r\nb\x1b", keep_newlines=True) == "a\\r\nb\\x1b"


# -- gatehouse audit tail -----------------------------------------------------------------


@pytest.fixture
def forged_log(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    key = generate_signing_key(key_paths(state)[0])

    async def fill() -> None:
        async with await AuditLog.open(state / "audit", key) as log:
            await log.append(FORGED, "login.success", "", {"client": "::1"})
            for n, text in enumerate(HOSTILE):
                await log.append("alice", "command.run", text, {"command": text, "n": n})

    asyncio.run(fill())
    return state


def audit(state_dir: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    args.state_dir = state_dir
    return int(args.func(args))


def test_audit_tail_shows_forged_names_escaped(
    forged_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit(forged_log, "audit", "tail", "-n", "50") == 0
    out = capsys.readouterr().out
    assert RAW.search(out) is None, repr(out)
    lines = out.splitlines()
    records = [line for line in lines if re.match(r"\s*\d+ \d{4}-", line)]
    assert len(records) == len(lines)  # every line is a record: nothing forged one
    # the forged actor, escaped, followed by the record's real action
    assert (
        "Z \\r\\x1b[2K     7 2026-01-01T00:00:00.000000Z root login.success login.success " in out
    )
    assert "\\x1b]52;c;Y2xpcGJvYXJk\\x07" in out
    assert "rtl\\u202eexe.txt" in out


def test_audit_tail_json_is_escaped_and_still_json(
    forged_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit(forged_log, "audit", "tail", "-n", "50", "--json") == 0
    out = capsys.readouterr().out
    assert RAW.search(out) is None, repr(out)
    records = [json.loads(line) for line in out.splitlines()]
    assert FORGED in [r["actor"] for r in records]
    assert {r["target"] for r in records} >= set(HOSTILE)


# -- gatehouse recordings list / show / search --------------------------------------------


@pytest.fixture
def forged_recordings(tmp_path: Path) -> Path:
    directory = tmp_path / "recordings"
    store = RecordingStore(directory)
    meta = SessionMeta("s-evil", user=FORGED, connection=HOSTILE[1], client_addr=HOSTILE[3])
    w = store.create(Header(40, 5, 1_700_000_000, "xterm\x1b[31m", meta))
    for n, text in enumerate(HOSTILE):
        w.output(float(n), "$ ")
        w.marker(float(n), f"echo needle {text}")
    w.close()
    return directory


def recordings(capsys: pytest.CaptureFixture[str], rdir: Path, *args: str) -> tuple[int, str]:
    code = main(["recordings", *args, "--dir", str(rdir)])
    out, err = capsys.readouterr()
    assert RAW.search(out) is None, repr(out)
    assert RAW.search(err) is None, repr(err)
    return code, out


def test_recordings_list_shows_names_escaped(
    capsys: pytest.CaptureFixture[str], forged_recordings: Path
) -> None:
    code, out = recordings(capsys, forged_recordings, "list")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2  # the header and one recording: no forged row
    assert lines[1].startswith("s-evil ")
    assert "\\r\\x1b[2K     7 2026-01-01T00:00:00.000000Z root login.success" in lines[1]
    assert "\\x1b]0;owned\\x07title" in lines[1]
    code, out = recordings(capsys, forged_recordings, "list", "--json")
    assert json.loads(out)[0]["user"] == FORGED


def test_recordings_show_shows_metadata_and_commands_escaped(
    capsys: pytest.CaptureFixture[str], forged_recordings: Path
) -> None:
    code, out = recordings(capsys, forged_recordings, "show", "s-evil")
    assert code == 0
    fields = dict(line.split(":", 1) for line in out.splitlines() if not line.startswith(" "))
    assert fields["user"].strip() == escape_controls(FORGED).strip()
    assert fields["connection"].strip() == "\\x1b]0;owned\\x07title"
    assert fields["client_addr"].strip() == "\\x9b2Kc1-csi"
    assert fields["term"].strip() == "xterm\\x1b[31m"
    assert fields["commands"].strip() == str(len(HOSTILE))
    assert "  echo needle a\\nforged line\\x7f" in out
    code, out = recordings(capsys, forged_recordings, "show", "s-evil", "--json")
    info = json.loads(out)
    assert info["user"] == FORGED
    assert [c["line"] for c in info["commands"]] == [f"echo needle {t}" for t in HOSTILE]


def test_recordings_search_shows_commands_escaped(
    capsys: pytest.CaptureFixture[str], forged_recordings: Path
) -> None:
    code, out = recordings(capsys, forged_recordings, "search", "needle")
    assert code == 0
    assert len(out.splitlines()) == len(HOSTILE)
    assert "echo needle \\x1b]52;c;Y2xpcGJvYXJk\\x07" in out
    code, out = recordings(capsys, forged_recordings, "search", "needle", "--json")
    index = str.maketrans("\t\r\n", "   ")  # the text index keeps a line on one line
    assert {m["line"] for m in json.loads(out)} == {
        f"echo needle {t}".translate(index) for t in HOSTILE
    }


def test_errors_quoting_a_name_are_escaped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "r").mkdir()
    bad = tmp_path / "r" / "evil.cast"
    bad.write_text('{"version": 2, "width": "\x1b[2J"}\n')
    code, _ = recordings(capsys, tmp_path / "r", "show", "evil")
    assert code == 1


# -- the broker's own log -----------------------------------------------------------------


def test_log_lines_escape_what_they_quote() -> None:
    formatter = EscapingFormatter("%(levelname)s %(name)s: %(message)s")
    record = logging.LogRecord(
        "gatehouse", logging.INFO, __file__, 1, "[%s] channel read ended: %s", (FORGED, "x"), None
    )
    line = formatter.format(record)
    assert line == f"INFO gatehouse: [{escape_controls(FORGED)}] channel read ended: x"
    try:
        raise ValueError(f"bad {HOSTILE[1]}")
    except ValueError:
        record.exc_info = sys.exc_info()
        record.exc_text = None
    text = formatter.format(record)
    assert RAW.search(text) is None, repr(text)
    assert "ValueError: bad \\x1b]0;owned\\x07title" in text
    assert text.count("\n") >= 2  # the traceback keeps its lines


def test_the_cli_logs_through_the_escaping_formatter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()
    try:
        main(["recordings", "list", "--dir", str(tmp_path)])
        assert [type(h.formatter) for h in root.handlers] == [EscapingFormatter]
    finally:
        root.handlers[:] = saved
    capsys.readouterr()
