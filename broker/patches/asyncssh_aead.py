"""A leaner data path for asyncssh channels on AEAD ciphers (decision 010).

asyncssh builds every outgoing channel-data packet with about a dozen full copies of the
payload (bytearray, slice, ``String``, three concatenations, encrypt, split, re-join) and
sends an empty ``MSG_IGNORE`` before each packet, a CBC-era countermeasure that AEAD
ciphers do not need and OpenSSH does not send. On the broker's relay that work is most of
the CPU per byte. This module replaces the hot method, for the steady state only:

* ``SSHChannel._flush_send_buf``, on AES-GCM or chacha20-poly1305, builds each packet's
  plaintext with one join, encrypts it (AES-GCM with a cached ``AESGCM``), and writes all
  the packets of one flush in one transport write, with no ``MSG_IGNORE``;
* anything else (another cipher, a key exchange due or running, compression, packet
  logging at debug level) takes asyncssh's own path, unchanged.

It is installed only on the asyncssh version it was written against; on any other version
asyncssh runs as shipped and the broker logs that the fast path is off.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import asyncssh
from asyncssh.channel import SSHChannel
from asyncssh.connection import SSHConnection
from asyncssh.crypto.cipher import GCMCipher
from asyncssh.encryption import ChachaEncryption, GCMEncryption
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

SUPPORTED_VERSION = "2.24.1"
MSG_CHANNEL_DATA = 94
MSG_CHANNEL_EXTENDED_DATA = 95

_AEAD = (GCMEncryption, ChachaEncryption)
_original_flush = SSHChannel._flush_send_buf
_original_recv_pkthdr = SSHConnection._recv_pkthdr
_process_data = SSHChannel._packet_handlers[MSG_CHANNEL_DATA]
_installed = False
STATS = {"sent": 0, "received": 0}
"""Channel-data packets the fast path sent and received in this process (tests, diagnostics)."""


def _aead(cipher: GCMCipher) -> AESGCM:
    """The cipher's AESGCM object, built once per key (a rekey makes a new GCMCipher)."""
    aead: AESGCM | None = cipher.__dict__.get("_gatehouse_aead")
    if aead is None:
        aead = AESGCM(cipher._key)
        cipher.__dict__["_gatehouse_aead"] = aead
    return aead


def _steady(conn: Any) -> bool:
    """True if the fast path may send on ``conn`` now (AEAD cipher, no key exchange due)."""
    return bool(
        type(conn._send_encryption) in _AEAD
        and conn._kex_complete
        and conn._auth_complete
        and conn._compressor is None
        and not conn._deferred_packets
        and conn._rekey_bytes_sent < conn._rekey_bytes
        and not (conn._rekey_seconds and time.monotonic() >= conn._rekey_time)
        and not conn.logger.isEnabledFor(logging.DEBUG)
        and conn._transport is not None
    )


def _padding(conn: Any, size: int) -> bytes:
    """``size`` fresh random bytes, cut from a per-connection pool of ``os.urandom`` output.

    Each byte is used once. One ``getrandom`` call per ~4 KiB instead of one per packet: in
    the profile, the per-packet call was 13% of the relay loop.
    """
    pool: bytes = conn.__dict__.get("_gatehouse_pad", b"")
    if len(pool) < size:
        pool = os.urandom(4096)
    conn.__dict__["_gatehouse_pad"] = pool[size:]
    return pool[:size]


def _plain(conn: Any, head: bytes, data: memoryview) -> bytes:
    """One packet's plaintext: ``head`` (type, channel, [code]) + string(data) + padding."""
    size = len(head) + 4 + len(data)
    padlen = -(conn._send_enchdrlen + size) % conn._send_blocksize
    if padlen < 4:
        padlen += conn._send_blocksize
    plain = b"".join(
        (bytes((padlen,)), head, len(data).to_bytes(4, "big"), data, _padding(conn, padlen))
    )
    conn._rekey_bytes_sent += len(plain)
    return plain


def _seal(conn: Any, plains: list[bytes]) -> bytes | bytearray:
    """The packets on the wire, in order, advancing the sequence number (and IV) for each."""
    enc = conn._send_encryption
    seq = conn._send_seq
    STATS["sent"] += len(plains)
    conn._send_seq = (seq + len(plains)) & 0xFFFFFFFF
    if type(enc) is not GCMEncryption:  # chacha20-poly1305: asyncssh's own cipher object
        sealed: list[bytes] = []
        for i, plain in enumerate(plains):
            body, mac = enc.encrypt_packet(
                (seq + i) & 0xFFFFFFFF, len(plain).to_bytes(4, "big"), plain
            )
            sealed += (body, mac)
        return b"".join(sealed)
    # AES-GCM: length in clear (the AAD), then ciphertext and tag, encrypted in place.
    cipher: GCMCipher = enc._cipher
    aead = _aead(cipher)
    wire = bytearray(sum(len(plain) for plain in plains) + 20 * len(plains))
    offset = 0
    with memoryview(wire) as view:
        for plain in plains:
            end = offset + 4 + len(plain) + 16
            header = len(plain).to_bytes(4, "big")
            view[offset : offset + 4] = header
            with view[offset + 4 : end] as out:
                aead.encrypt_into(cipher._iv, plain, header, out)
            cipher._update_iv()
            offset = end
    return wire


def _flush_send_buf(self: Any) -> None:
    """``SSHChannel._flush_send_buf`` with the AEAD fast path (same windows and flow control)."""
    conn = self._conn
    if conn is None or self._send_chan is None or not _steady(conn):
        _original_flush(self)
        return
    chan = self._send_chan.to_bytes(4, "big")
    plains: list[bytes] = []
    while self._send_buf and self._send_window:
        pktsize = min(self._send_window, self._send_pktsize)
        buf, datatype = self._send_buf[0]
        n = min(len(buf), pktsize)
        if datatype is None:
            head = bytes((MSG_CHANNEL_DATA,)) + chan
        else:
            head = bytes((MSG_CHANNEL_EXTENDED_DATA,)) + chan + datatype.to_bytes(4, "big")
        with memoryview(buf) as view, view[:n] as chunk:
            plains.append(_plain(conn, head, chunk))
        if n == len(buf):
            del self._send_buf[0]
        else:
            del buf[:n]
        self._send_buf_len -= n
        self._send_window -= n
        if not _steady(conn):  # a key exchange fell due: asyncssh's own path from here
            break
    if plains:  # one write per flush, before anything asyncssh sends next (order is the IV)
        conn._transport.write(_seal(conn, plains))
    _original_flush(self)  # the rest, or just its bookkeeping: pause/resume, EOF, close


def _recv_pkthdr(self: Any) -> bool:
    """``SSHConnection._recv_pkthdr`` taking whole AES-GCM channel-data packets at once.

    In the steady state, every complete ``MSG_CHANNEL_DATA`` packet at the head of the input
    buffer, for an open channel within its window, is decrypted in one call straight from the
    buffer; the buffer is cut once, then the data is handed to the channels in order, as
    asyncssh's ``_process_data`` would. The first packet that is anything else (another type,
    a bad tag, a protocol error to report) goes to asyncssh's own code with the IV not
    advanced for it, so asyncssh decrypts and judges it as shipped. A partial packet waits.
    """
    enc = self._recv_encryption
    buf = self._inpbuf
    if (
        type(enc) is not GCMEncryption
        or len(buf) < 4
        or not self._kex_complete
        or not self._auth_complete
        or self._decompressor is not None
        or self.logger.isEnabledFor(logging.DEBUG)
    ):
        return bool(_original_recv_pkthdr(self))
    cipher: GCMCipher = enc._cipher
    aead = _aead(cipher)
    batch: list[tuple[Any, bytes]] = []
    taken: dict[int, int] = {}
    offset, total, slow = 0, len(buf), False
    with memoryview(buf) as view:
        while total - offset >= 4:
            pktlen = int.from_bytes(buf[offset : offset + 4], "big")
            end = offset + 4 + pktlen + 16
            if pktlen > self._max_recv_pktlen or pktlen < 16:
                slow = True  # asyncssh reports what is wrong
                break
            if end > total:
                break  # wait for the whole packet (asyncssh would take the header first)
            with view[offset + 4 : end] as sealed, view[offset : offset + 4] as header:
                try:
                    plain = aead.decrypt(cipher._iv, sealed, header)
                except InvalidTag:
                    slow = True  # asyncssh reports the MAC failure
                    break
            padlen = plain[0]
            number = int.from_bytes(plain[2:6], "big")
            chan = self._channels.get(number)
            datalen = int.from_bytes(plain[6:10], "big")
            if (
                plain[1] != MSG_CHANNEL_DATA
                or len(plain) != 10 + datalen + padlen
                or chan is None
                or chan._packet_handlers.get(MSG_CHANNEL_DATA) is not _process_data
                or chan._recv_state != "open"
                or taken.get(number, 0) + datalen > chan._recv_window
            ):
                slow = True
                break
            cipher._update_iv()
            taken[number] = taken.get(number, 0) + datalen
            batch.append((chan, plain[10 : 10 + datalen]))
            offset = end
    if offset:
        self._inpbuf = buf[offset:]
        self._recv_seq = (self._recv_seq + len(batch)) & 0xFFFFFFFF
        self._auth_final = True
        STATS["received"] += len(batch)
        for chan, data in batch:
            chan._accept_data(data)
    if slow and self._transport is not None and self._inpbuf:
        return bool(_original_recv_pkthdr(self))
    return False


def install() -> bool:
    """Install the fast path on the supported asyncssh version; True if installed."""
    global _installed
    if _installed:
        return True
    if os.environ.get("GATEHOUSE_FASTPATH", "1") == "0":
        log.info("asyncssh fast path off (GATEHOUSE_FASTPATH=0)")
        return False
    if asyncssh.__version__ != SUPPORTED_VERSION:
        log.warning(
            "asyncssh %s is not %s: the AEAD fast path is off",
            asyncssh.__version__,
            SUPPORTED_VERSION,
        )
        return False
    SSHChannel._flush_send_buf = _flush_send_buf  # type: ignore[method-assign]
    SSHConnection._recv_pkthdr = _recv_pkthdr  # type: ignore[method-assign]
    _installed = True
    return True


def uninstall() -> None:
    """Put asyncssh's own method back (tests compare both paths in one process)."""
    global _installed
    SSHChannel._flush_send_buf = _original_flush  # type: ignore[method-assign]
    SSHConnection._recv_pkthdr = _original_recv_pkthdr  # type: ignore[method-assign]
    _installed = False
