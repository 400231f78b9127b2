"""The ``gatehouse recordings`` commands: list, show, export, import, play, screen, search."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from broker.common.errors import GatehouseError, RecordingError
from broker.common.text import escape_controls, escape_json_controls
from recordings.asciicast import parse_header
from recordings.index import load_index
from recordings.replay import Player, render_text
from recordings.store import RecordingInfo, RecordingStore
from recordings.writer import file_sha256

Handler = Callable[[argparse.Namespace, RecordingStore], int]
PlayerUI = Callable[[Player, str, float], None]
"""Runs the interactive player for (player, title, start); the TUI registers one."""

_player_ui: PlayerUI | None = None


def set_player_ui(play: PlayerUI) -> None:
    """Let ``recordings play`` use ``play`` (``tui.cli`` registers the TUI's player)."""
    global _player_ui
    _player_ui = play


def parse_moment(text: str) -> float:
    """Parse a moment in a recording: seconds (``83.5``) or ``m:ss`` / ``h:mm:ss``.

    Raises:
        argparse.ArgumentTypeError: not a moment.
    """
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        parts = []
    if not 1 <= len(parts) <= 3 or any(p < 0 or p != p or p == float("inf") for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds (e.g. 83.5) or m:ss")
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + p
    return seconds


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``recordings list|show|export|import|play|screen|search`` on ``sub``.

    Each handler reads ``args.state_dir`` (set by the main CLI from ``-c gatehouse.yaml``);
    ``--dir`` names a recordings directory directly instead.
    """
    top = sub.add_parser("recordings", help="list, show, export, import, replay, search recordings")
    cmds = top.add_subparsers(dest="recordings_command", required=True, metavar="ACTION")

    def add(name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=help_, description=help_)
        p.add_argument(
            "--dir", type=Path, help="recordings directory (default: STATE_DIR/recordings)"
        )
        p.set_defaults(func=_bind(handler))
        return p

    p = add("list", cmd_list, "list recordings, newest first")
    p.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    p = add("show", cmd_show, "metadata, commands, SHA-256 and index state of one recording")
    p.add_argument("id")
    p.add_argument("--json", action="store_true", help="as one JSON object")
    p = add("export", cmd_export, "copy a recording to an asciicast v2 file (asciinema plays it)")
    p.add_argument("id")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.cast")
    p = add("import", cmd_import, "import an asciicast v2 file made by asciinema")
    p.add_argument("file", type=Path, metavar="FILE.cast")
    p.add_argument("--id", default="", help="id to give it (default: import-<random>)")
    p.add_argument("--user", default="", help="who the recording is attributed to")
    p = add("play", cmd_play, "replay a recording here, in the terminal (no ssh)")
    p.add_argument("id")
    p.add_argument("--at", type=parse_moment, default=0.0, help="start at this moment")
    p = add("screen", cmd_screen, "print the screen at a moment as plain text")
    p.add_argument("id")
    p.add_argument("--at", type=parse_moment, required=True, metavar="SECONDS")
    p = add("search", cmd_search, "which sessions showed or ran TEXT, and when")
    p.add_argument("text")
    p.add_argument("--case-sensitive", action="store_true")
    p.add_argument("--json", action="store_true", help="one JSON array instead of lines")


def _bind(handler: Handler) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        directory = getattr(args, "dir", None)
        if directory is None:
            state_dir = getattr(args, "state_dir", None)
            if state_dir is None:
                _err("no recordings directory: pass -c gatehouse.yaml or --dir DIR")
                return 1
            directory = Path(state_dir) / "recordings"
        try:
            return handler(args, RecordingStore(directory))
        except (GatehouseError, RecordingError) as exc:
            _err(str(exc))
            return 1

    return run


def _viewed(args: argparse.Namespace, session_id: str, details: dict[str, Any]) -> None:
    """Audit, before anything is shown, that the CLI user read ``session_id`` (`recording.viewed`).

    Recordings found through a config are the broker's: the record goes to its audit log, and
    if it cannot be written nothing is shown. With ``--dir`` and no config there is no audit
    log to write to (decision 023).
    """
    config = getattr(args, "config_obj", None)
    if config is None:
        return
    from broker.auditchain.events import Action
    from broker.auditlog.events import record_cli_event

    via = f"recordings {args.recordings_command}"
    record_cli_event(
        config, getpass.getuser(), Action.RECORDING_VIEWED, session_id, {"via": via, **details}
    )


def _err(message: str) -> None:
    _say(f"gatehouse recordings: {message}", file=sys.stderr)


def _say(line: str, *, file: TextIO | None = None) -> None:
    """Print a line quoting a recording (its users, commands, output), controls escaped."""
    print(escape_controls(line), file=file)


def _fmt_time(t: float) -> str:
    s = max(0, int(t))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _info_json(info: RecordingInfo) -> dict[str, Any]:
    meta = info.header.meta
    return {
        "id": info.session_id,
        "started": _iso(info.started) if info.started else None,
        "user": meta.user if meta else "",
        "connection": meta.connection if meta else "",
        "client_addr": meta.client_addr if meta else "",
        "kind": meta.kind if meta else "",
        "size": info.size,
        "width": info.header.width,
        "height": info.header.height,
    }


def _skipped(store: RecordingStore, listed: list[RecordingInfo]) -> list[str]:
    """Say why each ``.cast`` file left out of the listing is unreadable."""
    known = {info.session_id for info in listed}
    out = []
    for path in sorted(store.directory.glob("*.cast")):
        if path.stem in known:
            continue
        try:
            with open(path, "rb") as f:
                parse_header(f.readline(1024 * 1024), path=str(path))
            reason = "unreadable"
        except RecordingError as exc:
            reason = str(exc)
        except OSError as exc:
            reason = exc.strerror or "unreadable"
        out.append(f"skipped {path.name}: {reason}")
    return out


def cmd_list(args: argparse.Namespace, store: RecordingStore) -> int:
    """Print every recording (a table, or JSON with ``--json``)."""
    infos = store.list()
    for warning in _skipped(store, infos):
        _err(warning)
    if args.json:
        print(json.dumps([_info_json(i) for i in infos], indent=1))
        return 0
    if not infos:
        _say(f"no recordings in {store.directory}")
        return 0
    rows: list[tuple[str, ...]] = [("ID", "STARTED (UTC)", "USER", "CONNECTION", "KIND", "SIZE")]
    for info in infos:
        j = _info_json(info)
        cells = (
            j["id"],
            j["started"] or "-",
            j["user"],
            j["connection"],
            j["kind"],
            str(j["size"]),
        )
        rows.append(tuple(escape_controls(cell) for cell in cells))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _index_state(store: RecordingStore, session_id: str) -> str:
    try:
        load_index(store.path(session_id))
    except RecordingError as exc:
        return f"rebuilt ({exc})"
    return "up to date"


def cmd_show(args: argparse.Namespace, store: RecordingStore) -> int:
    """Print one recording's metadata, its commands, its SHA-256 and the state of its index."""
    digest = store.sha256(args.id)
    _viewed(args, args.id, {})
    state = _index_state(store, args.id)
    player = store.open(args.id)
    header, index = player.header, player.index
    meta = header.meta
    info: dict[str, Any] = {
        "id": args.id,
        "file": str(player.cast_path),
        "sha256": digest,
        "index": state,
        "started": _iso(header.timestamp) if header.timestamp else None,
        "user": meta.user if meta else "",
        "connection": meta.connection if meta else "",
        "client_addr": meta.client_addr if meta else "",
        "kind": meta.kind if meta else "",
        "imported_from": meta.imported_from if meta else "",
        "size": f"{header.width}x{header.height}",
        "term": header.term,
        "duration": round(player.duration, 3),
        "events": index.events,
        "keyframes": len(index.keyframes),
        "commands": [{"time": round(m.time, 3), "line": m.label} for m in player.commands()],
    }
    if args.json:
        print(escape_json_controls(json.dumps(info, indent=1, ensure_ascii=False)))
        return 0
    for key, value in info.items():
        if key != "commands" and value not in ("", None):
            _say(f"{key + ':':<15}{value}")
    print(f"{'commands:':<15}{len(info['commands'])}")
    for m in player.commands():
        _say(f"  {_fmt_time(m.time):>8}  {m.label}")
    return 0


def cmd_export(args: argparse.Namespace, store: RecordingStore) -> int:
    """Copy a recording to ``-o FILE.cast`` and print its SHA-256."""
    if not store.path(args.id).is_file():  # an unknown id is not audited as viewed
        raise RecordingError(f"no recording {args.id!r}")
    _viewed(args, args.id, {"output": str(args.output)})
    out = store.export(args.id, args.output)
    _say(f"exported {args.id} to {out} (sha256 {file_sha256(out)})")
    return 0


def cmd_import(args: argparse.Namespace, store: RecordingStore) -> int:
    """Import an asciinema file and print the new recording's id."""
    if not args.file.is_file():
        raise RecordingError(f"no such file {args.file}")
    sid = store.import_cast(args.file, session_id=args.id, user=args.user)
    _say(sid)
    return 0


def cmd_play(args: argparse.Namespace, store: RecordingStore) -> int:
    """Replay a recording in this terminal with the TUI's player."""
    if _player_ui is None:
        _err("no interactive player is installed (the tui package); try `recordings screen`")
        return 1
    player = store.open(args.id)
    _viewed(args, args.id, {"at": args.at})
    _player_ui(player, f"Replay {args.id}", args.at)
    return 0


def cmd_screen(args: argparse.Namespace, store: RecordingStore) -> int:
    """Print the emulated screen at ``--at`` seconds as plain text."""
    player = store.open(args.id)
    _viewed(args, args.id, {"at": args.at})
    if args.at > player.duration + 1e-6:
        _err(f"note: {args.id} lasts {player.duration:.3f} s; showing its last screen")
    screen = render_text(player.screen_at(args.at)).rstrip("\n")
    print(escape_controls(screen, keep_newlines=True))
    return 0


def cmd_search(args: argparse.Namespace, store: RecordingStore) -> int:
    """Print the sessions and moments where TEXT was shown or run (exit 1 if none)."""
    matches = store.search(args.text, ignore_case=not args.case_sensitive)
    if args.json:
        out = [
            {
                "id": m.session_id,
                "time": round(m.match.time, 3),
                "kind": m.match.kind,
                "line": m.match.line_text,
            }
            for m in matches
        ]
        print(escape_json_controls(json.dumps(out, indent=1, ensure_ascii=False)))
    else:
        for m in matches:
            what = "ran  " if m.match.kind == "command" else "shown"
            line = m.match.line_text.strip()
            _say(f"{m.session_id}  {_fmt_time(m.match.time):>8}  {what}  {line}")
    if not matches:
        _err(f"no recording showed or ran {args.text!r}")
        return 1
    return 0
