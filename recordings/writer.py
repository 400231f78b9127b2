"""Writing recordings: a new asciicast v2 file, event by event, flushed and hashed as it goes."""

from __future__ import annotations

import hashlib
import os
from typing import IO, TYPE_CHECKING

from recordings.asciicast import Event, Header, encode_event, encode_header, parse_resize
from recordings.errors import RecordingError

if TYPE_CHECKING:
    from recordings.index import IndexBuilder


PRIVATE_FILE = 0o600
"""Mode of every file Gatehouse writes with a recording in it (sidecars and exports too)."""
PRIVATE_DIR = 0o700
"""Mode of a recordings directory it creates."""

FLUSH_BYTES = 1 << 20
""":meth:`RecordingWriter.maybe_flush` also flushes once this much is pending (bulk output)."""


class RecordingWriter:
    """Append events to a new recording file; the caller drives :meth:`maybe_flush`.

    Every method raises :class:`RecordingError` when the file cannot be written, so that a
    strict-mode session can end instead of forwarding unrecorded output.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        header: Header,
        *,
        index: IndexBuilder | None = None,
        flush_interval: float = 1.0,
        fsync: bool = False,
        resume: bool = False,
    ) -> None:
        """Create the file (it must not exist) and write the header.

        With ``resume``, the file was made by :func:`start_recording` and holds exactly the
        header line: the writer appends to it (the recorder process works this way, so that
        creating the file, and its errors, stay with the caller).

        Args:
            path: the ``.cast`` file to create.
            header: its header.
            index: an index builder fed every event (see ``recordings.index``).
            flush_interval: seconds between flushes driven by :meth:`maybe_flush`.
            fsync: also fsync on each flush (survives power loss, costs latency).
            resume: append to a file holding only this header (see above).
        """
        self.path = os.fspath(path)
        self.header = header
        self.index = index
        self.flush_interval = flush_interval
        self.fsync = fsync
        self._hash = hashlib.sha256()
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._last_flush = 0.0
        self._last_time = 0.0
        self._closed = False
        head = encode_header(header)
        try:
            self._file: IO[bytes] = (
                open(self.path, "ab")  # noqa: SIM115 - made private by start_recording
                if resume
                else open_private(self.path, exclusive=True)
            )
        except OSError as exc:
            raise RecordingError(f"cannot create recording {self.path}: {exc.strerror}") from None
        self.offset = len(head)
        if resume:
            if self._file.tell() != len(head):
                self._file.close()
                raise RecordingError(f"cannot resume recording {self.path}: not a fresh file")
            self._hash.update(head)
        else:
            self._pending.append(head)
            self._flush()

    def write(self, event: Event) -> int:
        """Append ``event`` (time rounded to microseconds, never before the previous event).

        Returns:
            The file offset after the event.
        """
        if self._closed:
            raise RecordingError("recording is closed")
        if event.code == "r":
            try:
                parse_resize(event.data)
            except ValueError as exc:
                raise RecordingError(str(exc)) from None
        t = max(round(event.time, 6), self._last_time)
        event = Event(t, event.code, event.data)
        try:
            line = encode_event(event)
        except UnicodeEncodeError:
            raise RecordingError("event data is not valid Unicode text") from None
        self._last_time = t
        self._pending.append(line)
        self._pending_size += len(line)
        self.offset += len(line)
        if self.index is not None:
            self.index.feed(event, self.offset)
        return self.offset

    def output(self, time: float, data: str) -> int:
        """Append an ``o`` event: masked output as the user received it."""
        return self.write(Event(time, "o", data))

    def resize(self, time: float, columns: int, rows: int) -> int:
        """Append an ``r`` event."""
        parse_resize(f"{columns}x{rows}")
        return self.write(Event(time, "r", f"{columns}x{rows}"))

    def marker(self, time: float, label: str) -> int:
        """Append an ``m`` event: a captured command line."""
        return self.write(Event(time, "m", label))

    def maybe_flush(self, now: float) -> bool:
        """Flush if ``flush_interval`` passed or ``FLUSH_BYTES`` are pending; True if it did.

        Args:
            now: a monotonic clock reading (any origin, same as previous calls).
        """
        if now - self._last_flush < self.flush_interval and self._pending_size < FLUSH_BYTES:
            return False
        self._last_flush = now
        self._flush()
        return True

    def _flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        self._pending_size = 0
        for piece in pending:  # hashed as written: big pieces release the GIL
            self._hash.update(piece)
        try:
            self._file.writelines(pending)
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
        except OSError as exc:
            raise RecordingError(f"cannot write recording {self.path}: {exc.strerror}") from None

    def close(self) -> str:
        """Flush, fsync and close the file, finish the index; return the file's SHA-256 hex."""
        if self._closed:
            return self._hash.hexdigest()
        self._closed = True
        try:
            self._flush()
            os.fsync(self._file.fileno())
            self._file.close()
        except OSError as exc:
            raise RecordingError(f"cannot close recording {self.path}: {exc.strerror}") from None
        if self.index is not None:
            self.index.close()
        return self._hash.hexdigest()


def start_recording(path: str | os.PathLike[str], header: Header) -> None:
    """Create ``path`` (it must not exist) holding only the header line.

    Raises:
        RecordingError: the file exists or cannot be written.
    """
    try:
        with open_private(path, exclusive=True) as f:
            f.write(encode_header(header))
    except OSError as exc:
        raise RecordingError(f"cannot create recording {path}: {exc.strerror}") from None


def open_private(path: str | os.PathLike[str], *, exclusive: bool) -> IO[bytes]:
    """Open ``path`` for writing as a file only its owner can read (mode 0600).

    Recordings hold what users typed and saw; like the rest of the state they are not left
    to the umask. A file that already exists (``exclusive=False``) is truncated and its mode
    set to 0600 as well.

    Args:
        path: the file.
        exclusive: fail if it exists (``FileExistsError``) instead of truncating it.

    Raises:
        OSError: it cannot be created.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE)
    try:
        if not exclusive:
            os.fchmod(fd, PRIVATE_FILE)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Return the SHA-256 hex of a file (as :meth:`RecordingWriter.close` reported it)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError as exc:
        raise RecordingError(f"cannot read recording {path}: {exc.strerror}") from None
    return h.hexdigest()
