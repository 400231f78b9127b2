"""The recorder process: turns the broker's session output into asciicast files.

The broker relays bytes; encoding them as asciicast events (UTF-8 decoding, JSON
escaping, hashing and writing, which for control-heavy output is several times the
data) runs here, on another core, so the relay's loop only copies bytes into a pipe.

Wire format, both directions: frames of ``HEAD`` (op, session number, time, length)
followed by ``length`` bytes of payload. The broker sends OPEN (JSON: path, header),
OUT/ERR (raw output), MARK (a command line), RESIZE (``COLSxROWS``) and CLOSE; this
process answers DONE (the file's SHA-256 hex) after a CLOSE, or FAIL (a message) as
soon as a recording cannot be written. On end of input it closes every open file.

Run as ``python -m broker.recording.host [--max-session-bytes N …]``; stdin and stdout carry
the frames. With quotas, a recording that goes past one is answered FAIL naming the quota.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import os
import select
import struct
import sys
import time
from collections.abc import Callable

from broker.common.errors import RecordingError
from broker.config.limits import RecordingQuota
from broker.recording.quota import QuotaLedger
from recordings.asciicast import Header, SessionMeta
from recordings.writer import RecordingWriter

HEAD = struct.Struct("<BIdI")
"""op, session number, time (seconds since the session started), payload length."""
OPEN, OUT, ERR, MARK, RESIZE, CLOSE, DONE, FAIL = range(1, 9)
FLUSH_INTERVAL = 1.0
"""Seconds between flushes of an open recording (what a crash may lose at most)."""
READ_SIZE = 1 << 20
RESCAN_INTERVAL = 60.0
"""Seconds between two sums of the recordings on disk (retention deletes old ones)."""


def frame(op: int, sid: int, payload: bytes = b"", t: float = 0.0) -> bytes:
    """One frame of the wire format."""
    return HEAD.pack(op, sid, t, len(payload)) + payload


def header_payload(path: str, header: Header) -> bytes:
    """The OPEN payload for a file made by ``start_recording(path, header)``."""
    meta = header.meta
    fields = {
        "path": path,
        "width": header.width,
        "height": header.height,
        "timestamp": header.timestamp,
        "term": header.term,
        "meta": None if meta is None else meta.__dict__,
    }
    return json.dumps(fields).encode()


def _header(fields: dict[str, object]) -> Header:
    meta = fields["meta"]
    return Header(
        int(str(fields["width"])),
        int(str(fields["height"])),
        int(str(fields["timestamp"])),
        str(fields["term"]),
        SessionMeta(**meta) if isinstance(meta, dict) else None,
    )


def _decoder() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8")(errors="replace")


class _Open:
    """One recording being written."""

    def __init__(self, writer: RecordingWriter) -> None:
        self.writer = writer
        self.decode = {OUT: _decoder(), ERR: _decoder()}


class RecorderHost:
    """Applies frames to recordings; answers through ``reply``. No sockets, no loop.

    With a ``ledger``, every write is held against the recording quotas (``free_space``
    tells the disk's free bytes); a recording past one is answered FAIL naming it.
    """

    def __init__(
        self,
        reply: Callable[[bytes], None],
        ledger: QuotaLedger | None = None,
        free_space: Callable[[], int | None] | None = None,
    ) -> None:
        self.reply = reply
        self.open: dict[int, _Open] = {}
        self.failed: set[int] = set()
        self.ledger = ledger
        self.free_space = free_space

    def apply(self, op: int, sid: int, t: float, payload: bytes | memoryview) -> None:
        """Apply one frame; a recording that fails is answered FAIL and forgotten."""
        if sid in self.failed:
            if op == CLOSE:
                self.failed.discard(sid)
            return
        try:
            self._apply(op, sid, t, payload)
        except (RecordingError, ValueError, KeyError, TypeError) as exc:
            rec = self.open.pop(sid, None)
            if rec is not None:
                with contextlib.suppress(RecordingError):
                    rec.writer.close()
                if self.ledger is not None:
                    self.ledger.closed(sid)
            if op != CLOSE:
                self.failed.add(sid)
            self.reply(frame(FAIL, sid, str(exc).encode()[:1000]))

    def _apply(self, op: int, sid: int, t: float, payload: bytes | memoryview) -> None:
        if op == OPEN:
            fields = json.loads(bytes(payload))
            writer = RecordingWriter(
                fields["path"], _header(fields), flush_interval=FLUSH_INTERVAL, resume=True
            )
            self.open[sid] = _Open(writer)
            if self.ledger is not None:
                self.ledger.opened(sid, writer.offset)
            return
        rec = self.open[sid]
        if op in (OUT, ERR):
            text = rec.decode[op].decode(payload)
            if text:
                rec.writer.output(t, text)
        elif op == MARK:
            rec.writer.marker(t, bytes(payload).decode("utf-8", "replace"))
        elif op == RESIZE:
            cols, _, rows = bytes(payload).decode().partition("x")
            rec.writer.resize(t, int(cols), int(rows))
        elif op == CLOSE:
            del self.open[sid]
            for stream in (OUT, ERR):
                tail = rec.decode[stream].decode(b"", True)
                if tail:
                    rec.writer.output(t, tail)
            self.reply(frame(DONE, sid, rec.writer.close().encode()))
            if self.ledger is not None:
                self.ledger.closed(sid, rec.writer.offset)
            return
        else:
            raise ValueError(f"unknown recorder op {op}")
        ledger = self.ledger
        if ledger is not None:
            free = None
            if ledger.needs_free_space() and self.free_space is not None:
                free = self.free_space()
            ledger.charge(sid, rec.writer.offset, free)

    def tick(self, now: float) -> None:
        """Flush recordings whose flush interval has passed."""
        for sid, rec in list(self.open.items()):
            try:
                rec.writer.maybe_flush(now)
            except RecordingError as exc:
                self.open.pop(sid, None)
                if self.ledger is not None:
                    self.ledger.closed(sid)
                self.failed.add(sid)
                self.reply(frame(FAIL, sid, str(exc).encode()[:1000]))

    def close_all(self) -> None:
        """End of input (the broker stopped): close every file, readable to its last event."""
        for rec in self.open.values():
            with contextlib.suppress(RecordingError):
                rec.writer.close()
        self.open.clear()


def disk_usage(directory: str) -> int:
    """Bytes of every file under ``directory`` (recordings and their indexes)."""
    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def free_bytes(directory: str) -> int | None:
    """Bytes an unprivileged writer may still use on ``directory``'s file system (None: unknown)."""
    try:
        stat = os.statvfs(directory)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def serve(
    fd_in: int, fd_out: int, quota: RecordingQuota | None = None, directory: str = ""
) -> None:
    """Read frames from ``fd_in`` until it ends; write replies to ``fd_out``.

    With a ``quota``, recordings under ``directory`` are held against it (the total is
    taken from disk at start and every ``RESCAN_INTERVAL`` seconds).
    """

    def reply(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd_out, view) :]

    ledger = None
    if quota is not None and quota.enforced and directory:
        ledger = QuotaLedger(quota, disk_usage(directory) if quota.max_total_bytes else 0)
    host = RecorderHost(reply, ledger, lambda: free_bytes(directory))
    rescanned = time.monotonic()
    buf = bytearray()
    while True:
        ready, _, _ = select.select([fd_in], [], [], FLUSH_INTERVAL / 2)
        if ready:
            chunk = os.read(fd_in, READ_SIZE)
            if not chunk:
                break
            buf += chunk
            pos = 0
            with memoryview(buf) as view:  # payloads are views: no copy per frame
                while len(view) - pos >= HEAD.size:
                    op, sid, t, length = HEAD.unpack_from(view, pos)
                    end = pos + HEAD.size + length
                    if end > len(view):
                        break
                    host.apply(op, sid, t, view[pos + HEAD.size : end])
                    pos = end
            del buf[:pos]
        now = time.monotonic()
        host.tick(now)
        if (
            ledger is not None
            and ledger.quota.max_total_bytes
            and now - rescanned >= RESCAN_INTERVAL
        ):
            rescanned = now
            ledger.rescanned(disk_usage(directory))
    host.close_all()


def quota_args(quota: RecordingQuota, directory: str) -> list[str]:
    """Command-line arguments that hand ``quota`` to this process."""
    return [
        f"--max-session-bytes={quota.max_session_bytes}",
        f"--max-total-bytes={quota.max_total_bytes}",
        f"--reserve-bytes={quota.reserve_bytes}",
        f"--dir={directory}",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m broker.recording.host")
    parser.add_argument("--max-session-bytes", type=int, default=0)
    parser.add_argument("--max-total-bytes", type=int, default=0)
    parser.add_argument("--reserve-bytes", type=int, default=0)
    parser.add_argument("--dir", default="")
    args = parser.parse_args(argv)
    quota = RecordingQuota(args.max_session_bytes, args.max_total_bytes, args.reserve_bytes)
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        serve(sys.stdin.fileno(), sys.stdout.fileno(), quota, args.dir)


if __name__ == "__main__":
    main()
