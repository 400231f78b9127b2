"""The sidecar index of a recording: keyframes for seeking, markers, idle gaps and screen text."""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from recordings.asciicast import (
    Event,
    Header,
    RecordingFormatError,
    header_end,
    parse_resize,
    scan_events,
)
from recordings.errors import RecordingError
from recordings.scrollback import ScrollbackScreen
from recordings.snapshot import capture
from recordings.terminal import Stream
from recordings.writer import open_private

INDEX_MAGIC = b"GHIDX1\n"
TRAILER_MAGIC = b"GHIDXEND"
_TRAILER = struct.Struct("<Q8s")
INDEX_VERSION = 1


def sidecar_paths(cast_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Return the ``(ID.idx, ID.txt)`` paths beside a ``ID.cast`` file."""
    p = Path(cast_path)
    return p.with_suffix(".idx"), p.with_suffix(".txt")


@dataclass(frozen=True)
class Keyframe:
    """Where replay can start: the emulator state after ``events`` events."""

    time: float
    """Time of the last event it includes."""
    events: int
    """How many events it includes."""
    offset: int
    """Byte offset in the ``.cast`` file of the first event it does not include."""
    blob_offset: int
    """Where its compressed state is in the ``.idx`` file."""
    blob_length: int
    """Length of that compressed state."""


@dataclass(frozen=True)
class Marker:
    """A command line captured during the session."""

    time: float
    """When it was entered."""
    label: str
    """The command line."""


@dataclass(frozen=True)
class Index:
    """A loaded ``.idx`` file (keyframe states stay on disk until needed)."""

    path: Path
    """The ``.idx`` file."""
    text_path: Path
    """The text index (``.txt``) beside it."""
    cast_size: int
    """Size of the ``.cast`` file it was built from (a different size means stale)."""
    width: int
    """Initial width."""
    height: int
    """Initial height."""
    duration: float
    """Time of the last event."""
    events: int
    """Number of events."""
    keyframes: tuple[Keyframe, ...]
    """In time order; the first is the empty screen before any event."""
    markers: tuple[Marker, ...]
    """Command markers in time order."""
    gaps: tuple[tuple[float, float], ...]
    """``(start, length)`` of pauses between events longer than the builder's threshold."""

    def keyframe_state(self, keyframe: Keyframe) -> dict[str, Any]:
        """Read and decode one keyframe's emulator state.

        Raises:
            RecordingError: the index file is unreadable or corrupt.
        """
        try:
            with open(self.path, "rb") as f:
                f.seek(keyframe.blob_offset)
                blob = f.read(keyframe.blob_length)
            value = json.loads(zlib.decompress(blob))
        except (OSError, zlib.error, ValueError) as exc:
            raise RecordingError(f"corrupt index {self.path}: {exc}") from None
        if not isinstance(value, dict):
            raise RecordingError(f"corrupt index {self.path}: keyframe is not an object")
        return value


def text_line(ms: int, kind: str, text: str) -> bytes:
    """Encode one text-index entry: ``MS<TAB>KIND<TAB>TEXT<LF>`` (``s`` screen, ``c`` command)."""
    clean = text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    return f"{ms}\t{kind}\t{clean}\n".encode("utf-8", "replace")


class IndexBuilder:
    """Build the index while a recording is written (or from a finished ``.cast``).

    Feed it every event with the ``.cast`` offset after that event; :meth:`close` writes
    the keyframe table. The text index is appended as it goes, so it survives a crash.
    """

    def __init__(
        self,
        cast_path: str | os.PathLike[str],
        header: Header,
        header_size: int,
        *,
        keyframe_bytes: int = 64 * 1024,
        keyframe_seconds: float = 10.0,
        sample_seconds: float = 0.25,
        gap_seconds: float = 1.0,
        rebuild: bool = False,
    ) -> None:
        """Open the sidecar files for writing.

        Args:
            cast_path: the recording's ``.cast`` path (sidecars go beside it).
            header: the recording's header.
            header_size: bytes taken by the header line.
            keyframe_bytes: output bytes between keyframes.
            keyframe_seconds: seconds between keyframes (if there was output).
            sample_seconds: the screen is read for the text index before an event that comes
                this long after the last reading, so every screen that stood this long is in.
            gap_seconds: pauses longer than this are listed for idle skipping.
            rebuild: build both sidecars under temporary names and swap them in at
                :meth:`close` (a live build writes the text index in place instead, so
                that search sees a session while it runs).

        Raises:
            RecordingError: the sidecar files cannot be created.
        """
        self.cast_path = Path(cast_path)
        self.idx_path, self.txt_path = sidecar_paths(cast_path)
        self.rebuild = rebuild
        part = ".rebuild" if rebuild else ".part"
        self._idx_part = self.idx_path.with_suffix(".idx" + part)
        self._txt_open = self.txt_path.with_suffix(".txt" + part) if rebuild else self.txt_path
        self.header = header
        self.keyframe_bytes = keyframe_bytes
        self.keyframe_seconds = keyframe_seconds
        self.sample_seconds = sample_seconds
        self.gap_seconds = gap_seconds
        self.screen = ScrollbackScreen(header.width, header.height)
        self.stream = Stream(self.screen)
        self.keyframes: list[Keyframe] = []
        self.markers: list[Marker] = []
        self.gaps: list[tuple[float, float]] = []
        self.events = 0
        self.time = 0.0
        self.offset = header_size
        self._since_keyframe = 0
        self._keyframe_time = 0.0
        self._sample_time = 0.0
        self._rows: list[str] = [""] * header.height
        self._closed = False
        try:
            self._idx: IO[bytes] = open_private(self._idx_part, exclusive=False)
            self._txt: IO[bytes] = open_private(self._txt_open, exclusive=False)
            self._idx.write(INDEX_MAGIC)
        except OSError as exc:
            raise RecordingError(f"cannot create index {self.idx_path}: {exc.strerror}") from None
        self._text: list[bytes] = []
        self._add_keyframe()

    def feed(self, event: Event, end_offset: int) -> None:
        """Take one event.

        Args:
            event: the event as written.
            end_offset: the ``.cast`` offset just after its line.
        """
        if event.time - self.time > self.gap_seconds:
            self.gaps.append((self.time, event.time - self.time))
        if event.time - self._sample_time >= self.sample_seconds:
            self._sample()  # the screen as it stood until now
        previous = self.time
        self.time = event.time
        self.events += 1
        self.offset = end_offset
        if event.code == "o":
            self.stream.feed(event.data)
            self._since_keyframe += len(event.data)
            if self.screen.scrolled:
                self._note_scrolled(previous)
        elif event.code == "r":
            cols, rows = parse_resize(event.data)
            self.screen.resize(rows, cols)
            self._rows = (self._rows + [""] * rows)[:rows]
        elif event.code == "m":
            self.markers.append(Marker(event.time, event.data))
            self._text.append(text_line(_ms(event.time), "c", event.data))
        due = self._since_keyframe >= self.keyframe_bytes or (
            self._since_keyframe and event.time - self._keyframe_time >= self.keyframe_seconds
        )
        if due and self.stream.idle:
            self._sample()
            self._add_keyframe()
            self._flush_text()

    def _note_scrolled(self, previous: float) -> None:
        seen = set(self._rows)
        for text in self.screen.scrolled:
            if text.strip() and text not in seen:
                self._text.append(text_line(_ms(previous), "s", text))
        self.screen.scrolled.clear()

    def _sample(self) -> None:
        self._sample_time = self.time
        screen = self.screen
        if not screen.dirty:
            return
        seen = set(self._rows)
        for y in sorted(screen.dirty):
            if y >= screen.lines:
                continue
            text = screen.row_text(y)
            self._rows[y] = text
            if text.strip() and text not in seen:
                seen.add(text)
                self._text.append(text_line(_ms(self.time), "s", text))
        screen.dirty.clear()

    def _flush_text(self) -> None:
        if self._text:
            try:
                self._txt.write(b"".join(self._text))
                self._txt.flush()
            except OSError as exc:
                raise RecordingError(f"cannot write {self.txt_path}: {exc.strerror}") from None
            self._text.clear()

    def _add_keyframe(self) -> None:
        blob = zlib.compress(json.dumps(capture(self.screen, self.stream)).encode(), 6)
        try:
            pos = self._idx.tell()
            self._idx.write(blob)
        except OSError as exc:
            raise RecordingError(f"cannot write index {self.idx_path}: {exc.strerror}") from None
        self.keyframes.append(Keyframe(self.time, self.events, self.offset, pos, len(blob)))
        self._since_keyframe = 0
        self._keyframe_time = self.time

    def close(self) -> Index:
        """Write the keyframe table and close the sidecar files; return the index."""
        if self._closed:
            raise RecordingError("index already closed")
        self._closed = True
        self._sample()
        self._flush_text()
        table = {
            "version": INDEX_VERSION,
            "cast_size": self.offset,
            "width": self.header.width,
            "height": self.header.height,
            "duration": self.time,
            "events": self.events,
            "keyframes": [
                [k.time, k.events, k.offset, k.blob_offset, k.blob_length] for k in self.keyframes
            ],
            "markers": [[m.time, m.label] for m in self.markers],
            "gaps": [list(g) for g in self.gaps],
        }
        try:
            pos = self._idx.tell()
            self._idx.write(json.dumps(table, ensure_ascii=False).encode())
            self._idx.write(_TRAILER.pack(pos, TRAILER_MAGIC))
            self._idx.close()
            txt_inode = os.fstat(self._txt.fileno()).st_ino
            self._txt.close()
            if self.rebuild:
                os.replace(self._txt_open, self.txt_path)
            elif _inode(self.txt_path) != txt_inode:
                # the sidecars were rebuilt while we were live: ours are out of date
                self._idx_part.unlink(missing_ok=True)
                build_index(self.cast_path)
                return load_index(self.cast_path)
            os.replace(self._idx_part, self.idx_path)
        except OSError as exc:
            raise RecordingError(f"cannot write index {self.idx_path}: {exc.strerror}") from None
        return _from_table(self.idx_path, self.txt_path, table)


def _inode(path: Path) -> int:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return -1


def _ms(t: float) -> int:
    """Milliseconds, rounded up so that the screen at that time includes the event."""
    return math.ceil(round(t * 1000, 3))


def _from_table(idx: Path, txt: Path, t: dict[str, Any]) -> Index:
    return Index(
        path=idx,
        text_path=txt,
        cast_size=int(t["cast_size"]),
        width=int(t["width"]),
        height=int(t["height"]),
        duration=float(t["duration"]),
        events=int(t["events"]),
        keyframes=tuple(
            Keyframe(float(a), int(b), int(c), int(d), int(e)) for a, b, c, d, e in t["keyframes"]
        ),
        markers=tuple(Marker(float(a), str(b)) for a, b in t["markers"]),
        gaps=tuple((float(a), float(b)) for a, b in t["gaps"]),
    )


def load_index(cast_path: str | os.PathLike[str]) -> Index:
    """Load the index beside ``cast_path``.

    Raises:
        RecordingError: missing, corrupt, or stale (built from a different ``.cast`` size).
    """
    idx, txt = sidecar_paths(cast_path)
    try:
        cast_size = os.path.getsize(cast_path)
        with open(idx, "rb") as f:
            if f.read(len(INDEX_MAGIC)) != INDEX_MAGIC:
                raise RecordingError(f"not an index file: {idx}")
            end = f.seek(0, os.SEEK_END)
            if end < len(INDEX_MAGIC) + _TRAILER.size:
                raise RecordingError(f"index is incomplete: {idx}")
            f.seek(end - _TRAILER.size)
            pos, magic = _TRAILER.unpack(f.read(_TRAILER.size))
            if magic != TRAILER_MAGIC or not len(INDEX_MAGIC) <= pos < end:
                raise RecordingError(f"index is incomplete: {idx}")
            f.seek(pos)
            table = json.loads(f.read(end - _TRAILER.size - pos))
        index = _from_table(idx, txt, table)
    except OSError as exc:
        raise RecordingError(f"cannot read index {idx}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise RecordingError(f"corrupt index {idx}: {exc}") from None
    if table.get("version") != INDEX_VERSION or index.cast_size != cast_size:
        raise RecordingError(f"index is stale: {idx}")
    return index


def build_index(cast_path: str | os.PathLike[str], **options: Any) -> Path:
    """(Re)build the sidecar index of a ``.cast`` file from the file alone.

    Args:
        cast_path: the recording.
        **options: :class:`IndexBuilder` tuning (``keyframe_bytes``, ``keyframe_seconds``…).

    Returns:
        The ``.idx`` path.

    Raises:
        RecordingError: the recording cannot be read or is malformed.
    """
    name = os.fspath(cast_path)
    try:
        with open(name, "rb") as f:
            header, start = header_end(f, path=name)
            builder = IndexBuilder(name, header, start, rebuild=True, **options)
            try:
                for event, end in scan_events(f, start, path=name):
                    builder.feed(event, end)
            except RecordingFormatError:
                builder.close()
                raise
            size = f.seek(0, os.SEEK_END)
    except OSError as exc:
        raise RecordingError(f"cannot read recording {name}: {exc.strerror}") from None
    if size != builder.offset:
        builder.offset = size  # a truncated tail is ignored, but the index is for this file
    builder.close()
    return builder.idx_path
