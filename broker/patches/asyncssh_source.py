"""The asyncssh source that broker/patches/asyncssh_aead.py was written against, as fingerprints.

The AEAD fast path imitates asyncssh's send and receive paths and reads and writes about
thirty private attributes. It may run only where those methods, and every method that writes
those attributes, are the ones it was checked against: :data:`FINGERPRINT` records a digest
of each (asyncssh 2.24.1). Run ``python -m broker.patches.asyncssh_source`` to print the
installed asyncssh's table; a new table is adopted only after reading the diff of each
changed method against the fast path.
"""

from __future__ import annotations

import inspect

import asyncssh
from asyncssh import channel, connection, constants, encryption, packet
from asyncssh.crypto import chacha, cipher

from broker.patches.fingerprint import differences, digest, fingerprint

RELIED_ON = (
    # replaced, or called around the replacement
    "asyncssh.connection.SSHConnection._recv_data",
    "asyncssh.connection.SSHConnection._recv_pkthdr",
    "asyncssh.connection.SSHConnection._recv_packet",
    "asyncssh.connection.SSHConnection._finish_recv_packet",
    "asyncssh.connection.SSHConnection.send_packet",
    "asyncssh.connection.SSHConnection._send",
    "asyncssh.channel.SSHChannel._flush_send_buf",
    "asyncssh.channel.SSHChannel._pause_resume_writing",
    "asyncssh.channel.SSHChannel.send_packet",
    "asyncssh.channel.SSHChannel._process_data",
    "asyncssh.channel.SSHChannel._accept_data",
    "asyncssh.packet.SSHPacketHandler.process_packet",
    # the ciphers it drives directly
    "asyncssh.encryption.GCMEncryption.encrypt_packet",
    "asyncssh.encryption.GCMEncryption.decrypt_header",
    "asyncssh.encryption.GCMEncryption.decrypt_packet",
    "asyncssh.encryption.ChachaEncryption.encrypt_packet",
    "asyncssh.crypto.cipher.GCMCipher.__init__",
    "asyncssh.crypto.cipher.GCMCipher._update_iv",
    "asyncssh.crypto.cipher.GCMCipher.encrypt_and_sign",
    "asyncssh.crypto.cipher.GCMCipher.verify_and_decrypt",
    "asyncssh.crypto.chacha.ChachaCipher.encrypt_and_sign",
)
"""Methods the fast path replaces, imitates or calls."""

ATTRS = frozenset(
    {
        # SSHConnection
        "_auth_complete", "_auth_final", "_channels", "_compressor", "_decompressor",
        "_deferred_packets", "_inpbuf", "_kex_complete", "_max_recv_pktlen",
        "_recv_encryption", "_recv_handler", "_recv_seq", "_rekey_bytes", "_rekey_bytes_sent",
        "_rekey_seconds", "_rekey_time", "_send_blocksize", "_send_enchdrlen",
        "_send_encryption", "_send_seq", "_transport",
        # SSHChannel
        "_conn", "_packet_handlers", "_recv_state", "_recv_window", "_send_buf",
        "_send_buf_len", "_send_chan", "_send_pktsize", "_send_state", "_send_window",
        # GCMEncryption, GCMCipher
        "_cipher", "_iv", "_key",
    }
)  # fmt: skip
"""Private attributes the fast path reads or writes: every method that writes one is relied on."""

MODULES = (connection, channel, packet, encryption, cipher, chacha)


def _classes() -> dict[str, list[str]]:
    """Classes whose methods are scanned: connections, channels, the packet handler, ciphers."""
    bases = (
        connection.SSHConnection,
        channel.SSHChannel,
        packet.SSHPacketHandler,
        encryption.GCMEncryption,
        encryption.ChachaEncryption,
        cipher.GCMCipher,
        chacha.ChachaCipher,
    )
    return {
        module.__name__: [
            name
            for name, obj in vars(module).items()
            if isinstance(obj, type)
            and issubclass(obj, bases)
            and obj.__module__ == module.__name__
        ]
        for module in MODULES
    }


VALUES = "values: message numbers, data handler, GCM parameters"


def _values() -> str:
    """The non-code facts the fast path relies on, as one text."""
    handler = channel.SSHChannel._packet_handlers.get(constants.MSG_CHANNEL_DATA)
    facts = (
        constants.MSG_CHANNEL_DATA,
        constants.MSG_CHANNEL_EXTENDED_DATA,
        getattr(handler, "__qualname__", None),
        cipher.get_cipher_params("aes128-gcm"),
        cipher.get_cipher_params("aes256-gcm"),
        getattr(cipher, "_GCM_MAC_SIZE", None),
        encryption.GCMEncryption.get_mac_params(b""),
        encryption.ChachaEncryption.get_mac_params(b""),
    )
    return repr(facts)


def sources() -> dict[str, str]:
    """The installed source of each module in :data:`MODULES` (``inspect.getsource``)."""
    return {module.__name__: inspect.getsource(module) for module in MODULES}


def current(module_sources: dict[str, str] | None = None) -> dict[str, str]:
    """The fingerprint of the installed asyncssh (or of ``module_sources``)."""
    result = fingerprint(module_sources or sources(), _classes(), RELIED_ON, ATTRS)
    result[VALUES] = digest(_values())
    return result


def check(module_sources: dict[str, str] | None = None) -> list[str]:
    """What differs from :data:`FINGERPRINT`; empty if the fast path may be installed.

    Any failure to read the source (a build without ``.py`` files) is a difference too.
    """
    try:
        return differences(FINGERPRINT, current(module_sources))
    except (OSError, TypeError, SyntaxError, ValueError) as exc:
        return [f"asyncssh {asyncssh.__version__} source unreadable ({exc})"]


FINGERPRINT: dict[str, str] = {
    "asyncssh.channel.SSHChannel.__init__": "c9834d9302839e71",
    "asyncssh.channel.SSHChannel._accept_data": "33121e9e185c9850",
    "asyncssh.channel.SSHChannel._cleanup": "5d0b2593194bbf4b",
    "asyncssh.channel.SSHChannel._close_send": "5dcbc60194d9a29b",
    "asyncssh.channel.SSHChannel._deliver_data": "bd94ccbaa59ab510",
    "asyncssh.channel.SSHChannel._discard_recv": "24cf487dbe2fdff0",
    "asyncssh.channel.SSHChannel._finish_open_request": "0186fdd53941c6cf",
    "asyncssh.channel.SSHChannel._flush_recv_buf": "22d7ff2363a4d38d",
    "asyncssh.channel.SSHChannel._flush_send_buf": "3f11e9dc27c58b18",
    "asyncssh.channel.SSHChannel._pause_resume_writing": "b05e507ca9fdeec9",
    "asyncssh.channel.SSHChannel._process_close": "65c1f876b753b91a",
    "asyncssh.channel.SSHChannel._process_data": "342490795c4b893c",
    "asyncssh.channel.SSHChannel._process_eof": "ac67e77d1f8a61bc",
    "asyncssh.channel.SSHChannel._process_window_adjust": "7a2e4c4998e0b496",
    "asyncssh.channel.SSHChannel.close": "2d0f6c05f1998289",
    "asyncssh.channel.SSHChannel.process_connection_close": "a9a665f08780e013",
    "asyncssh.channel.SSHChannel.process_open": "6a3a551a99b6d76b",
    "asyncssh.channel.SSHChannel.process_open_confirmation": "83e189367ef9b251",
    "asyncssh.channel.SSHChannel.send_packet": "00e81b763c8f3dd2",
    "asyncssh.channel.SSHChannel.write": "1045e20008469933",
    "asyncssh.channel.SSHChannel.write_eof": "0466daebc7aaca21",
    "asyncssh.connection.SSHConnection.__init__": "41da2e469f2a3964",
    "asyncssh.connection.SSHConnection._cleanup": "ea4cd2aed57194e5",
    "asyncssh.connection.SSHConnection._finish_recv_packet": "e12d96db58b3524e",
    "asyncssh.connection.SSHConnection._force_close": "264b4367525f4f86",
    "asyncssh.connection.SSHConnection._process_newkeys": "a0331fe3cfd09d0b",
    "asyncssh.connection.SSHConnection._process_userauth_success": "02fe4fc8335c6d81",
    "asyncssh.connection.SSHConnection._recv_data": "fc4e0735191bb0fd",
    "asyncssh.connection.SSHConnection._recv_packet": "b3daa22e9763eee9",
    "asyncssh.connection.SSHConnection._recv_pkthdr": "7adc4d88fe20593c",
    "asyncssh.connection.SSHConnection._recv_version": "05573b0ac8886bf3",
    "asyncssh.connection.SSHConnection._send": "c6698a37eb80f574",
    "asyncssh.connection.SSHConnection._send_deferred_packets": "c5ef8240853eb331",
    "asyncssh.connection.SSHConnection._send_kexinit": "275ddc818b59f44b",
    "asyncssh.connection.SSHConnection._update_recv_pktlen": "2a85e726b648a8c5",
    "asyncssh.connection.SSHConnection.add_channel": "81a9f117d0719c8d",
    "asyncssh.connection.SSHConnection.connection_made": "e7b867af0f590a2c",
    "asyncssh.connection.SSHConnection.data_received": "b2d14a83b2604db6",
    "asyncssh.connection.SSHConnection.remove_channel": "d32309b2c6b93ee3",
    "asyncssh.connection.SSHConnection.send_newkeys": "0b41234420373618",
    "asyncssh.connection.SSHConnection.send_packet": "fb9da7bec6dd395a",
    "asyncssh.connection.SSHConnection.send_userauth_success": "812e749ee2432e4b",
    "asyncssh.connection.SSHServerConnection.reload_config": "d78b0be8399d5491",
    "asyncssh.crypto.chacha.ChachaCipher.__init__": "b9689bf565276ccb",
    "asyncssh.crypto.chacha.ChachaCipher.encrypt_and_sign": "f9b87e5614981c32",
    "asyncssh.crypto.cipher.GCMCipher.__init__": "8dbe9e768f4ecf7a",
    "asyncssh.crypto.cipher.GCMCipher._update_iv": "bce250a8d9dc82b6",
    "asyncssh.crypto.cipher.GCMCipher.encrypt_and_sign": "adb87dbdb4f9039a",
    "asyncssh.crypto.cipher.GCMCipher.verify_and_decrypt": "c09eb5b36d0f6a92",
    "asyncssh.encryption.ChachaEncryption.__init__": "8166e7b4121098f6",
    "asyncssh.encryption.ChachaEncryption.encrypt_packet": "e9faafa35d664508",
    "asyncssh.encryption.GCMEncryption.__init__": "96f0b31f70afef1a",
    "asyncssh.encryption.GCMEncryption.decrypt_header": "50d9112c6d6c1ced",
    "asyncssh.encryption.GCMEncryption.decrypt_packet": "6feb840baa1102a4",
    "asyncssh.encryption.GCMEncryption.encrypt_packet": "6a59190103eaab06",
    "asyncssh.packet.SSHPacketHandler.process_packet": "490a59d971d0ce03",
    "values: message numbers, data handler, GCM parameters": "f63a35f5d94b007f",
}
"""Recorded against asyncssh 2.24.1 (``python -m broker.patches.asyncssh_source``)."""


if __name__ == "__main__":
    print(f"# asyncssh {asyncssh.__version__}")
    for name, value in current().items():
        print(f'    "{name}": "{value}",')
