"""A directory of recordings: create, list, open, export, import, delete and search them."""

from __future__ import annotations

import builtins
import os
import re
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recordings.asciicast import (
    Header,
    SessionMeta,
    convert_stock,
    encode_header,
    parse_header,
    read_recording,
)
from recordings.errors import RecordingError
from recordings.index import IndexBuilder, build_index, sidecar_paths
from recordings.replay import Match, Player, search_text_file
from recordings.writer import PRIVATE_DIR, RecordingWriter, file_sha256, open_private

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class RecordingInfo:
    """One recording as listed (from its header line and file size only)."""

    session_id: str
    """Its id (the file name without ``.cast``)."""
    header: Header
    """Its header (``header.meta`` holds user, connection, client address, kind)."""
    size: int
    """Size of the ``.cast`` file in bytes."""
    mtime: float
    """Last modification (Unix seconds); the end of the session for a closed recording."""

    @property
    def started(self) -> int:
        """Start time, Unix seconds."""
        return self.header.timestamp


@dataclass(frozen=True)
class StoreMatch:
    """A moment in some recording where searched text appeared or was run."""

    session_id: str
    """The recording."""
    match: Match
    """Time, line and kind."""


def check_id(session_id: str) -> str:
    """Return ``session_id`` if it is safe as a file name.

    Raises:
        RecordingError: it could escape the directory or is otherwise unusable.
    """
    if not _ID.fullmatch(session_id) or session_id.endswith((".cast", ".idx", ".txt")):
        raise RecordingError(f"invalid recording id {session_id[:40]!r}")
    return session_id


class RecordingStore:
    """Recordings kept as ``ID.cast`` with ``ID.idx`` and ``ID.txt`` sidecars in one directory."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        """Use (and create if needed, mode 0700) ``directory``."""
        self.directory = Path(directory)
        try:
            self.directory.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordingError(f"cannot create {self.directory}: {exc.strerror}") from None

    def path(self, session_id: str) -> Path:
        """Return the ``.cast`` path for an id (whether or not it exists)."""
        return self.directory / f"{check_id(session_id)}.cast"

    def _existing(self, session_id: str) -> Path:
        path = self.path(session_id)
        if not path.is_file():
            raise RecordingError(f"no recording {session_id!r}")
        return path

    def create(self, header: Header, **index_options: Any) -> RecordingWriter:
        """Start a new recording (indexed as it is written) for ``header.meta.session_id``.

        Raises:
            RecordingError: no metadata, a recording with that id exists, or a write failed.
        """
        if header.meta is None:
            raise RecordingError("a recording in the store needs gatehouse metadata")
        path = self.path(header.meta.session_id)
        if path.exists():
            raise RecordingError(f"recording {header.meta.session_id!r} already exists")
        builder = IndexBuilder(path, header, len(encode_header(header)), **index_options)
        return RecordingWriter(path, header, index=builder)

    def list(self) -> list[RecordingInfo]:
        """Return every recording, newest first, reading only header lines.

        Unreadable or malformed files are left out (``open`` names their problem).
        """
        out = []
        for path in self.directory.glob("*.cast"):
            try:
                with open(path, "rb") as f:
                    line = f.readline(1024 * 1024)
                    st = os.fstat(f.fileno())
                header = parse_header(line, path=str(path))
            except (OSError, RecordingError):
                continue
            out.append(RecordingInfo(path.stem, header, st.st_size, st.st_mtime))
        out.sort(key=lambda r: (r.header.timestamp, r.session_id), reverse=True)
        return out

    def open(self, session_id: str) -> Player:
        """Open a recording for replay (its index is rebuilt if missing or stale).

        Raises:
            RecordingError: no such recording, or it is unreadable.
        """
        return Player.open(self._existing(session_id))

    def sha256(self, session_id: str) -> str:
        """Return the SHA-256 hex of a recording's ``.cast`` (to check against the audit log)."""
        return file_sha256(self._existing(session_id))

    def export(self, session_id: str, dest: str | os.PathLike[str]) -> Path:
        """Copy a recording's ``.cast`` file to ``dest`` (it plays in stock ``asciinema play``).

        ``dest`` is made (or left) mode 0600, as private as the recording itself.

        Raises:
            RecordingError: no such recording, or the copy failed.
        """
        src = self._existing(session_id)
        try:
            if os.path.exists(dest) and os.path.samefile(src, dest):
                raise RecordingError(f"cannot export {session_id!r} onto itself")
            with open(src, "rb") as source, open_private(dest, exclusive=False) as out:
                shutil.copyfileobj(source, out, 1 << 20)
        except OSError as exc:
            raise RecordingError(f"cannot export to {dest}: {exc.strerror}") from None
        return Path(dest)

    def import_cast(
        self, source: str | os.PathLike[str], *, session_id: str = "", user: str = ""
    ) -> str:
        """Import a stock asciinema v2 file: our header, ``i`` (keystroke) events dropped, indexed.

        Args:
            source: the ``.cast`` file made by asciinema.
            session_id: the id to give it (default: ``import-`` and a random suffix).
            user: who the recording is attributed to.

        Returns:
            The new recording's id.

        Raises:
            RecordingError: the file is malformed or the id exists.
        """
        recording = read_recording(source)
        sid = check_id(session_id or f"import-{uuid.uuid4().hex[:12]}")
        meta = SessionMeta(sid, user=user, kind="terminal", imported_from=Path(source).name)
        header, events = convert_stock(recording, meta)
        if not header.timestamp:
            header = Header(header.width, header.height, int(time.time()), header.term, meta)
        path = self.path(sid)
        if path.exists():
            raise RecordingError(f"recording {sid!r} already exists")
        writer = RecordingWriter(path, header)
        try:
            for event in events:
                writer.write(event)
        finally:
            writer.close()
        build_index(path)
        return sid

    def delete(self, session_id: str) -> str:
        """Delete a recording and its sidecars (retention); return the deleted file's SHA-256.

        Raises:
            RecordingError: no such recording, or it cannot be removed.
        """
        path = self._existing(session_id)
        digest = file_sha256(path)
        try:
            path.unlink()
            for side in sidecar_paths(path):
                side.unlink(missing_ok=True)
        except OSError as exc:
            raise RecordingError(f"cannot delete {path}: {exc.strerror}") from None
        return digest

    def expired(self, older_than: float) -> builtins.list[RecordingInfo]:
        """Return recordings that started before ``older_than`` (Unix seconds)."""
        return [r for r in self.list() if (r.header.timestamp or r.mtime) < older_than]

    def search(
        self,
        text: str,
        *,
        ignore_case: bool = True,
        session_ids: Sequence[str] | None = None,
        limit: int = 1000,
    ) -> builtins.list[StoreMatch]:
        """Which sessions showed or ran ``text``, and when (text indexes only, no emulation).

        Args:
            text: what to look for.
            ignore_case: ASCII case-insensitive when True.
            session_ids: restrict to these recordings (e.g. what a reviewer may see).
            limit: stop after this many matches in all.
        """
        if session_ids is None:
            ids = sorted(p.stem for p in self.directory.glob("*.cast"))
        else:
            ids = [check_id(s) for s in session_ids]
        out: builtins.list[StoreMatch] = []
        for sid in ids:
            txt = sidecar_paths(self.directory / f"{sid}.cast")[1]
            for m in search_text_file(txt, text, ignore_case=ignore_case, limit=limit - len(out)):
                out.append(StoreMatch(sid, m))
            if len(out) >= limit:
                break
        return out
