"""Copies of records and checkpoints for SIEMs: RFC 5424 syslog (TCP/UDP) and JSON-lines files."""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import urlsplit

from broker.auditchain.events import Action
from broker.common.errors import ConfigError

log = logging.getLogger(__name__)

_BOM: Final = b"\xef\xbb\xbf"
_FACILITY_LOG_AUDIT: Final = 13
_NOTICE_ACTIONS: Final = frozenset(
    (Action.LOGIN_FAILURE, Action.POLICY_DENIED, Action.MASKING_ERROR, Action.HOST_KEY_MISMATCH)
)


class SinkDown(OSError):
    """A sink failed recently and is resting before it retries; entries meanwhile are skipped."""


@dataclass(frozen=True, slots=True)
class SinkEntry:
    """One line to copy out: a record or a checkpoint."""

    line: bytes
    """Its canonical JSON, without a newline."""
    time: str
    """Its audit time."""
    action: str
    """Its action (``audit.checkpoint`` for checkpoints)."""


class Sink(Protocol):
    """Somewhere a copy of the log goes; ``emit`` may raise ``OSError``, never blocks long."""

    name: str

    def emit(self, entries: Sequence[SinkEntry]) -> None:
        """Deliver ``entries`` in order."""

    def close(self) -> None:
        """Release the sink's resources."""


def syslog_message(entry: SinkEntry, *, hostname: str, procid: str) -> bytes:
    """Format ``entry`` as an RFC 5424 message (MSG is the JSON line, UTF-8 with BOM).

    Args:
        entry: The record or checkpoint.
        hostname: HOSTNAME field.
        procid: PROCID field.

    Returns:
        The message bytes, without transport framing.
    """
    severity = 5 if entry.action in _NOTICE_ACTIONS else 6
    pri = _FACILITY_LOG_AUDIT * 8 + severity
    msgid = entry.action[:32] or "-"
    header = f"<{pri}>1 {entry.time} {hostname[:255] or '-'} gatehouse {procid} {msgid} - "
    return header.encode("ascii", "replace") + _BOM + entry.line


class SyslogSink:
    """RFC 5424 syslog over TCP (RFC 6587 octet counting) or UDP (one message per datagram)."""

    def __init__(self, url: str, *, timeout: float = 2.0, retry_after: float = 5.0) -> None:
        """Parse ``url`` (``tcp://host:port`` or ``udp://host:port``); connect lazily.

        Raises:
            ConfigError: The URL is not a tcp:// or udp:// address with a port.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("tcp", "udp") or not parts.hostname or not parts.port:
            raise ConfigError(f"syslog sink {url!r}: expected tcp://HOST:PORT or udp://HOST:PORT")
        self.name = url
        self._proto = parts.scheme
        self._address = (parts.hostname, parts.port)
        self._timeout = timeout
        self._retry_after = retry_after
        self._sock: socket.socket | None = None
        self._down_until = 0.0
        self._hostname = socket.gethostname()
        self._procid = str(os.getpid())

    def emit(self, entries: Sequence[SinkEntry]) -> None:
        """Send ``entries``; after a failure, skip sending until ``retry_after`` has passed."""
        if time.monotonic() < self._down_until:
            raise SinkDown(f"syslog sink {self.name} is down; retrying later")
        messages = [
            syslog_message(entry, hostname=self._hostname, procid=self._procid) for entry in entries
        ]
        try:
            sock = self._socket()
            if self._proto == "tcp":
                sock.sendall(b"".join(b"%d %s" % (len(msg), msg) for msg in messages))
            else:
                for msg in messages:
                    sock.sendto(msg[:65000], self._address)
        except OSError:
            self._down_until = time.monotonic() + self._retry_after
            self.close()
            raise

    def _socket(self) -> socket.socket:
        if self._sock is None:
            if self._proto == "tcp":
                self._sock = socket.create_connection(self._address, timeout=self._timeout)
            else:
                self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._sock.settimeout(self._timeout)
        return self._sock

    def close(self) -> None:
        """Close the socket (a later ``emit`` reconnects)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class FileSink:
    """Appends each line to a JSON-lines file (flushed per batch, not fsynced)."""

    def __init__(self, path: Path) -> None:
        """Append to ``path`` (created on first write)."""
        self.name = str(path)
        self._path = path

    def emit(self, entries: Sequence[SinkEntry]) -> None:
        """Append ``entries`` as lines, in one ``write`` on an O_APPEND file.

        Several writers (broker workers, a CLI command) append to the same file: one
        write per batch keeps each batch's lines whole and together.
        """
        data = memoryview(b"".join(entry.line + b"\n" for entry in entries))
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)

    def close(self) -> None:
        """Nothing to release."""


def sinks_from_config(entries: Sequence[Mapping[str, str]], base_dir: Path) -> list[Sink]:
    """Build sinks from the config's ``audit.sinks`` list.

    Args:
        entries: e.g. ``[{"syslog": "tcp://127.0.0.1:5514"}, {"file": "./audit-copy.jsonl"}]``.
        base_dir: Directory relative file paths are resolved against (the config's).

    Raises:
        ConfigError: An entry is not exactly one of ``syslog`` or ``file``.
    """
    sinks: list[Sink] = []
    for position, entry in enumerate(entries):
        key = f"audit.sinks[{position}]"
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise ConfigError("expected one of {syslog: URL} or {file: PATH}", key=key)
        ((kind, value),) = entry.items()
        if kind == "syslog" and isinstance(value, str):
            sinks.append(SyslogSink(value))
        elif kind == "file" and isinstance(value, str):
            sinks.append(FileSink(base_dir / value))
        else:
            raise ConfigError(f"unknown sink {kind!r}: expected syslog or file", key=key)
    return sinks


class SinkDispatcher:
    """Feeds sinks from a bounded queue on its own thread, so a slow sink never stalls the log."""

    def __init__(self, sinks: Sequence[Sink], *, max_pending: int = 100_000) -> None:
        """Start the thread (only when there are sinks)."""
        self.sinks = tuple(sinks)
        self.dropped = 0
        self.failures = 0
        self._queue: queue.Queue[list[SinkEntry] | None] = queue.Queue(max_pending)
        self._thread: threading.Thread | None = None
        if self.sinks:
            self._thread = threading.Thread(target=self._run, name="audit-sinks", daemon=True)
            self._thread.start()

    def submit(self, entries: list[SinkEntry]) -> None:
        """Queue ``entries`` for every sink; drop them (and log) when the queue is full."""
        if self._thread is None or not entries:
            return
        try:
            self._queue.put_nowait(entries)
        except queue.Full:
            self.dropped += len(entries)
            log.warning("audit sinks are behind: dropped %d entries", len(entries))

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (waiting at most ``timeout`` seconds) and stop."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            log.warning("audit sinks: queue full at close; pending entries dropped")
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while (entries := self._queue.get()) is not None:
            for sink in self.sinks:
                try:
                    sink.emit(entries)
                except SinkDown:
                    self.failures += 1
                except OSError as exc:
                    self.failures += 1
                    log.warning("audit sink %s failed: %s", sink.name, exc)
        for sink in self.sinks:
            sink.close()
