"""A leaner data path for asyncssh channel data on AEAD ciphers (decision 010).

asyncssh builds every outgoing channel-data packet with about a dozen full copies of the
payload and sends an empty ``MSG_IGNORE`` before each packet, a CBC-era countermeasure that
AEAD ciphers do not need and OpenSSH does not send; receiving, it slices and copies each
packet and the rest of the input buffer several times. On the broker's relay that work is
most of the CPU per byte. On the connections the broker marks with :func:`enable`, this
module replaces two methods, for the steady state only:

* ``SSHChannel._flush_send_buf``, on AES-GCM or chacha20-poly1305, builds each packet with
  one join, encrypts it (AES-GCM with a cached ``AESGCM``) and writes all the packets of one
  flush in one transport write, with no ``MSG_IGNORE``;
* ``SSHConnection._recv_pkthdr``, on AES-GCM, decrypts each whole ``MSG_CHANNEL_DATA``
  packet in one call straight from the input buffer and hands its data to the channel as
  asyncssh's ``_process_data`` would. A packet is taken only if it passes every check
  asyncssh makes and those RFC 4253 §6 / RFC 5647 §7 require (length, block alignment,
  maximum size, tag, padding of 4 to 255 bytes, exact payload, open channel, window); any
  other packet goes to asyncssh's own code, so asyncssh decides and reports it as shipped.

Anything else (another cipher, a key exchange due or running, compression, packet logging
at debug level, a connection not marked) takes asyncssh's own path. The patch installs only
if the source of every asyncssh method it relies on matches :data:`FINGERPRINT`.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, cast

import asyncssh
from asyncssh.channel import SSHChannel
from asyncssh.connection import SSHConnection
from asyncssh.crypto.cipher import GCMCipher
from asyncssh.encryption import ChachaEncryption, GCMEncryption
from asyncssh.packet import SSHPacketHandler
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker.patches import asyncssh_source

log = logging.getLogger(__name__)

MSG_CHANNEL_DATA = 94
MSG_CHANNEL_EXTENDED_DATA = 95
GCM_BLOCK = 16
"""RFC 5647 §7.2: padding_length, payload and padding together are a multiple of 16 bytes."""
GCM_TAG = 16
MIN_PADDING = 4
"""RFC 4253 §6: at least four bytes of random padding."""

_AEAD = (GCMEncryption, ChachaEncryption)
_FLAG = "_gatehouse_aead_path"
_original_flush = SSHChannel._flush_send_buf
_original_recv_pkthdr = SSHConnection._recv_pkthdr
_process_data = SSHChannel._packet_handlers[MSG_CHANNEL_DATA]
_process_packet = SSHPacketHandler.process_packet
_installed = False
STATS = {"sent": 0, "received": 0}
"""Channel-data packets the fast path sent and received in this process (tests, diagnostics)."""


def enable(conn: asyncssh.SSHClientConnection | asyncssh.SSHServerConnection) -> None:
    """Let ``conn`` use the fast path (once installed) whenever it is in its steady state."""
    conn.__dict__[_FLAG] = True


def _aead(cipher: GCMCipher) -> AESGCM:
    """The cipher's AESGCM object, built once per key (a rekey makes a new GCMCipher)."""
    aead: AESGCM | None = cipher.__dict__.get("_gatehouse_aead")
    if aead is None:
        aead = AESGCM(cipher._key)
        cipher.__dict__["_gatehouse_aead"] = aead
    return aead


def _sending(conn: SSHConnection) -> bool:
    """True if the fast path may send on ``conn`` now (AEAD cipher, no key exchange due)."""
    return bool(
        conn.__dict__.get(_FLAG)
        and type(conn._send_encryption) in _AEAD
        and conn._kex_complete
        and conn._auth_complete
        and conn._compressor is None
        and not conn._deferred_packets
        and conn._rekey_bytes_sent < conn._rekey_bytes
        and not (conn._rekey_seconds and time.monotonic() >= conn._rekey_time)
        and not conn.logger.isEnabledFor(logging.DEBUG)
        and conn._transport is not None
    )


def _receiving(conn: SSHConnection) -> bool:
    """True if the fast path may take the next packet on ``conn`` (AES-GCM, steady state)."""
    return bool(
        conn.__dict__.get(_FLAG)
        and type(conn._recv_encryption) is GCMEncryption
        and conn._kex_complete
        and conn._auth_complete
        and conn._decompressor is None
        and not conn.logger.isEnabledFor(logging.DEBUG)
        and conn._transport is not None
    )


def _padding(conn: SSHConnection, size: int) -> bytes:
    """``size`` fresh random bytes, cut from a per-connection pool of ``os.urandom`` output.

    Each byte is used once. One ``getrandom`` call per ~4 KiB instead of one per packet: in
    the profile, the per-packet call was 13% of the relay loop.
    """
    pool: bytes = conn.__dict__.get("_gatehouse_pad", b"")
    if len(pool) < size:
        pool = os.urandom(4096)
    conn.__dict__["_gatehouse_pad"] = pool[size:]
    return pool[:size]


def _plain(conn: SSHConnection, head: bytes, data: memoryview) -> bytes:
    """One packet's plaintext: ``head`` (type, channel, [code]) + string(data) + padding."""
    size = len(head) + 4 + len(data)
    padlen = -(conn._send_enchdrlen + size) % conn._send_blocksize
    if padlen < MIN_PADDING:
        padlen += conn._send_blocksize
    plain = b"".join(
        (bytes((padlen,)), head, len(data).to_bytes(4, "big"), data, _padding(conn, padlen))
    )
    conn._rekey_bytes_sent += len(plain)
    return plain


def _seal(conn: SSHConnection, plains: list[bytes]) -> bytes | bytearray:
    """The packets on the wire, in order, advancing the sequence number (and IV) for each."""
    enc = conn._send_encryption
    assert enc is not None  # _sending() checked it is an AEAD cipher
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
    cipher = enc._cipher
    aead = _aead(cipher)
    wire = bytearray(sum(len(plain) for plain in plains) + (4 + GCM_TAG) * len(plains))
    offset = 0
    with memoryview(wire) as view:
        for plain in plains:
            end = offset + 4 + len(plain) + GCM_TAG
            header = len(plain).to_bytes(4, "big")
            view[offset : offset + 4] = header
            with view[offset + 4 : end] as out:
                aead.encrypt_into(cipher._iv, plain, header, out)
            cipher._update_iv()
            offset = end
    return wire


def _flush_send_buf(self: SSHChannel[Any]) -> None:
    """``SSHChannel._flush_send_buf`` with the AEAD fast path (same windows and flow control)."""
    conn = self._conn
    if conn is None or self._send_chan is None or self._send_pktsize <= 0 or not _sending(conn):
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
        if not _sending(conn):  # a key exchange fell due: asyncssh's own path from here
            break
    if plains:  # one write per flush, before anything asyncssh sends next (order is the IV)
        transport = conn._transport
        assert transport is not None  # _sending() checked it before each packet
        transport.write(_seal(conn, plains))
    _original_flush(self)  # the rest, or just its bookkeeping: pause/resume, EOF, close


def _channel_data(conn: SSHConnection, plain: bytes) -> tuple[SSHChannel[Any], bytes] | None:
    """The channel and data of a decrypted packet if asyncssh would deliver it, else None.

    ``plain`` is padding_length || payload || padding. Taken only if the padding is 4 to 255
    bytes and the payload is exactly ``MSG_CHANNEL_DATA``, channel, string(data) for an open
    channel whose data handler is asyncssh's own, within its receive window: the checks of
    ``_recv_packet``, ``process_packet`` and ``_process_data``, plus RFC 4253's padding rule.
    """
    padlen = plain[0]
    if padlen < MIN_PADDING or len(plain) < 10 + padlen or plain[1] != MSG_CHANNEL_DATA:
        return None
    datalen = int.from_bytes(plain[6:10], "big")
    if 10 + datalen + padlen != len(plain):
        return None
    chan = conn._channels.get(int.from_bytes(plain[2:6], "big"))
    if (
        chan is None
        or type(chan).process_packet is not _process_packet
        or chan._packet_handlers.get(MSG_CHANNEL_DATA) is not _process_data
        or chan._recv_state != "open"
        or datalen > chan._recv_window
    ):
        return None
    return chan, plain[10 : 10 + datalen]


def _recv_pkthdr(self: SSHConnection) -> bool:
    """``SSHConnection._recv_pkthdr`` taking whole AES-GCM channel-data packets at once.

    Each complete packet at the head of the input buffer that :func:`_channel_data` accepts
    is decrypted in one call straight from the buffer and its data handed to the channel at
    once, as asyncssh's ``_process_data`` would; the state is checked again before each
    packet, since handing data over can change it. The buffer is cut once, at the end (only
    asyncssh's ``_recv_data``, this method's caller, reads it). The first packet that is
    anything else goes to asyncssh's own code with the IV not advanced for it, so asyncssh
    decrypts, judges and reports it as shipped. A partial packet waits for more data.
    """
    buf = self._inpbuf
    total, offset, slow = len(buf), 0, True
    with memoryview(buf) as view:
        while _receiving(self):
            if total - offset < 4:
                slow = False
                break
            pktlen = int.from_bytes(view[offset : offset + 4], "big")
            if pktlen > self._max_recv_pktlen or pktlen < GCM_BLOCK or pktlen % GCM_BLOCK:
                break
            end = offset + 4 + pktlen + GCM_TAG
            if end > total:
                slow = False
                break
            cipher = cast(GCMEncryption, self._recv_encryption)._cipher
            try:
                with view[offset + 4 : end] as sealed, view[offset : offset + 4] as header:
                    plain = _aead(cipher).decrypt(cipher._iv, sealed, header)
            except InvalidTag:
                break
            taken = _channel_data(self, plain)
            if taken is None:
                break
            cipher._update_iv()
            self._recv_seq = (self._recv_seq + 1) & 0xFFFFFFFF
            self._auth_final = True
            offset = end
            STATS["received"] += 1
            taken[0]._accept_data(taken[1])
    if offset:
        self._inpbuf = self._inpbuf[offset:]
    if slow and self._inpbuf:
        return bool(_original_recv_pkthdr(self))
    return False


def install() -> bool:
    """Install the fast path if asyncssh's source is the one it was written for; log either way."""
    global _installed
    if _installed:
        return True
    if os.environ.get("GATEHOUSE_FASTPATH", "1") == "0":
        log.info("patch asyncssh AEAD fast path: NOT active: GATEHOUSE_FASTPATH=0")
        return False
    changed = asyncssh_source.check()
    if changed:
        more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
        log.warning(
            "patch asyncssh AEAD fast path: NOT active: asyncssh %s is not the source it was "
            "written for: %s%s",
            asyncssh.__version__,
            "; ".join(changed[:3]),
            more,
        )
        return False
    SSHChannel._flush_send_buf = _flush_send_buf  # type: ignore[method-assign]
    SSHConnection._recv_pkthdr = _recv_pkthdr  # type: ignore[method-assign]
    _installed = True
    log.info(
        "patch asyncssh AEAD fast path: active (asyncssh %s, %d fingerprints match)",
        asyncssh.__version__,
        len(asyncssh_source.FINGERPRINT),
    )
    return True


def uninstall() -> None:
    """Put asyncssh's own methods back (tests compare both paths in one process)."""
    global _installed
    SSHChannel._flush_send_buf = _original_flush  # type: ignore[method-assign]
    SSHConnection._recv_pkthdr = _original_recv_pkthdr  # type: ignore[method-assign]
    _installed = False
