"""The asciicast v2 format: header and events, a crash-tolerant reader and a flushing writer."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from recordings.errors import RecordingError

MAX_SIZE = 1000
"""Largest terminal width or height accepted in a header or resize event."""
KINDS = ("terminal", "run", "sql")
_RESIZE = re.compile(r"([0-9]{1,5})x([0-9]{1,5})")
_CHUNK = 256 * 1024


class RecordingFormatError(RecordingError):
    """A recording file is malformed; ``line`` is the 1-based line that is bad."""

    def __init__(self, message: str, *, line: int, path: str = "") -> None:
        self.line = line
        self.path = path
        super().__init__(f"{path or '<recording>'}:{line}: {message}")


@dataclass(frozen=True)
class SessionMeta:
    """Gatehouse's own header fields (under the ``gatehouse`` key)."""

    session_id: str
    """The session this recording belongs to; also the file's name in the store."""
    user: str = ""
    """Who ran the session."""
    connection: str = ""
    """The connection name the session went to."""
    client_addr: str = ""
    """The SSH client's address."""
    kind: str = "terminal"
    """``terminal`` (interactive) or ``run`` (one command)."""
    imported_from: str = ""
    """For a recording imported from a stock asciinema file: its original name."""


@dataclass(frozen=True)
class Header:
    """The first line of an asciicast v2 file."""

    width: int
    """Terminal width in cells at the start."""
    height: int
    """Terminal height in rows at the start."""
    timestamp: int = 0
    """Start time, Unix seconds."""
    term: str = "xterm-256color"
    """The client's ``TERM``."""
    meta: SessionMeta | None = None
    """Gatehouse metadata; None for a stock asciinema recording."""
    title: str = ""
    """Optional title (asciinema's ``title``)."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Other header keys, kept as read."""

    def to_json(self) -> dict[str, Any]:
        """Return the header as the JSON object written on line 1."""
        out: dict[str, Any] = dict(self.extra)
        out.update(
            version=2,
            width=self.width,
            height=self.height,
            timestamp=self.timestamp,
            env={"TERM": self.term},
        )
        if self.title:
            out["title"] = self.title
        if self.meta is not None:
            m = self.meta
            gh = {
                "session_id": m.session_id,
                "user": m.user,
                "connection": m.connection,
                "client_addr": m.client_addr,
                "kind": m.kind,
            }
            if m.imported_from:
                gh["imported_from"] = m.imported_from
            out["gatehouse"] = gh
        return out


@dataclass(frozen=True)
class Event:
    """One event: ``o`` output, ``r`` resize (``COLSxROWS``), ``m`` marker, ``i`` input."""

    time: float
    """Seconds since the start of the recording."""
    code: str
    """The event type."""
    data: str
    """Output text, size, marker label or input."""


@dataclass(frozen=True)
class Recording:
    """A whole recording read into memory."""

    header: Header
    """Its header."""
    events: tuple[Event, ...]
    """Every complete event, in order."""
    truncated: bool
    """True when a partial last line (a crash mid-write) was dropped."""
    size: int
    """Bytes covered by the header and the complete events."""


def parse_resize(data: str) -> tuple[int, int]:
    """Parse a resize event's ``COLSxROWS``.

    Raises:
        ValueError: not of that form, or outside 1..MAX_SIZE.
    """
    m = _RESIZE.fullmatch(data)
    if m is None:
        raise ValueError(f"bad resize {data[:20]!r}")
    cols, rows = int(m[1]), int(m[2])
    if not (1 <= cols <= MAX_SIZE and 1 <= rows <= MAX_SIZE):
        raise ValueError(f"terminal size out of range: {cols}x{rows}")
    return cols, rows


def encode_header(header: Header) -> bytes:
    """Return line 1 of the file for ``header`` (with its newline)."""
    return json.dumps(header.to_json(), ensure_ascii=False).encode() + b"\n"


def encode_event(event: Event) -> bytes:
    """Return the file line for ``event`` (with its newline)."""
    line = json.dumps([event.time, event.code, event.data], ensure_ascii=False)
    return line.encode("utf-8", "strict") + b"\n"


def _dimension(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if type(value) is not int or not 1 <= value <= MAX_SIZE:
        raise ValueError(f"{key} must be an integer in 1..{MAX_SIZE}")
    return value


def parse_header(line: bytes, *, path: str = "") -> Header:
    """Parse line 1 of an asciicast v2 file.

    Raises:
        RecordingFormatError: not a v2 header (v1 files and garbage are refused).
    """
    try:
        obj = json.loads(line)
        if not isinstance(obj, dict):
            raise ValueError("header is not a JSON object")
        if obj.get("version") != 2:
            raise ValueError(f"unsupported asciicast version {obj.get('version')!r}")
        width, height = _dimension(obj, "width"), _dimension(obj, "height")
        env = obj["env"] if isinstance(obj.get("env"), dict) else {}
        ts = obj.get("timestamp", 0)
        meta = _parse_meta(obj.get("gatehouse"))
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise RecordingFormatError(str(exc), line=1, path=path) from None
    known = {"version", "width", "height", "timestamp", "env", "gatehouse", "title"}
    return Header(
        width=width,
        height=height,
        timestamp=int(ts) if isinstance(ts, (int, float)) and math.isfinite(ts) else 0,
        term=str(env.get("TERM") or "xterm-256color"),
        meta=meta,
        title=str(obj.get("title") or ""),
        extra={k: v for k, v in obj.items() if k not in known},
    )


def _parse_meta(value: Any) -> SessionMeta | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("session_id"), str):
        raise ValueError("gatehouse metadata must be an object with a session_id")
    fields = ("user", "connection", "client_addr", "kind", "imported_from")
    if any(not isinstance(value.get(k, ""), str) for k in fields):
        raise ValueError("gatehouse metadata fields must be strings")
    if value.get("kind", "terminal") not in KINDS:
        raise ValueError(f"gatehouse kind must be one of {', '.join(KINDS)}")
    return SessionMeta(value["session_id"], **{k: value[k] for k in fields if k in value})


def parse_event(line: bytes, *, lineno: int = 0, path: str = "") -> Event:
    """Parse one event line.

    Raises:
        RecordingFormatError: not ``[time, code, data]`` with a finite time >= 0.
    """
    try:
        obj = json.loads(line)
        if not isinstance(obj, list) or len(obj) != 3:
            raise ValueError("event is not [time, code, data]")
        t, code, data = obj
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
            raise ValueError("event time must be a finite number >= 0")
        if not isinstance(code, str) or not isinstance(data, str):
            raise ValueError("event code and data must be strings")
        if code == "r":
            parse_resize(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordingFormatError(str(exc), line=lineno, path=path) from None
    return Event(float(t), code, data)


def scan_events(
    f: IO[bytes], offset: int, *, first_line: int = 2, last_time: float = 0.0, path: str = ""
) -> Iterator[tuple[Event, int]]:
    """Yield ``(event, end_offset)`` for each complete event from ``offset`` on.

    A final line without a newline that does not parse (a crash mid-write) ends the scan
    quietly; a bad line elsewhere raises.

    Args:
        f: the recording, opened in binary mode.
        offset: byte offset of the first event line to read.
        first_line: its 1-based line number (for error messages).
        last_time: the time of the event before it (times must not go backwards).
        path: the file name for error messages.

    Raises:
        RecordingFormatError: a malformed line, or time going backwards.
    """
    f.seek(offset)
    rest = b""
    lineno = first_line
    pos = offset
    while True:
        chunk = f.read(_CHUNK)
        data = rest + chunk if rest else chunk
        if not data:
            return
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            line = data[start:nl]
            pos += nl + 1 - start
            start = nl + 1
            if line.strip():
                event = parse_event(line, lineno=lineno, path=path)
                if event.time < last_time - 1e-6:
                    raise RecordingFormatError("event time goes backwards", line=lineno, path=path)
                last_time = event.time
                yield event, pos
            lineno += 1
        rest = data[start:]
        if not chunk:
            if rest.strip():
                try:
                    event = parse_event(rest, lineno=lineno, path=path)
                except RecordingFormatError:
                    return  # a partial last line
                if event.time >= last_time - 1e-6:
                    yield event, pos + len(rest)
            return


def header_end(f: IO[bytes], *, path: str = "") -> tuple[Header, int]:
    """Read the header line of an open recording; return it and the offset after it.

    Raises:
        RecordingFormatError: no complete, valid header.
    """
    f.seek(0)
    line = f.readline(1024 * 1024)
    if not line.endswith(b"\n"):
        raise RecordingFormatError("no complete header line", line=1, path=path)
    return parse_header(line, path=path), len(line)


def read_recording(path: str | os.PathLike[str]) -> Recording:
    """Read a whole recording, tolerating a crash-truncated end.

    Raises:
        RecordingError: the file cannot be opened.
        RecordingFormatError: the header or a complete event line is malformed.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            header, end = header_end(f, path=name)
            events: list[Event] = []
            for event, event_end in scan_events(f, end, path=name):
                events.append(event)
                end = event_end
            f.seek(end)
            truncated = bool(f.read().strip())
    except OSError as exc:
        raise RecordingError(f"cannot read recording {name}: {exc.strerror}") from None
    return Recording(header, tuple(events), truncated=truncated, size=end)


def convert_stock(recording: Recording, meta: SessionMeta) -> tuple[Header, list[Event]]:
    """Turn a stock asciinema recording into ours: our metadata, no ``i`` (keystroke) events.

    Args:
        recording: a recording read with :func:`read_recording`.
        meta: the metadata to give it.

    Returns:
        The new header and the events to write.
    """
    h = recording.header
    header = Header(h.width, h.height, h.timestamp, h.term, meta, h.title)
    events = [e for e in recording.events if e.code in ("o", "r", "m")]
    return header, events


def cast_path_parts(path: Path) -> tuple[Path, Path, Path]:
    """Return ``(cast, index, text index)`` paths for a ``.cast`` file."""
    return path, path.with_suffix(".idx"), path.with_suffix(".txt")
