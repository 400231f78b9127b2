"""The IdP's HTTP edge against hostile servers on loopback: oversized, silent, dribbling, not JSON."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from broker.identity.errors import SignInError
from broker.identity.idp import IdentityProvider
from broker.identity.oauth import MAX_BODY

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def _serve(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


def _answer(body: bytes, status: str = "200 OK") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + body


async def _oversized(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(_answer(b'{"pad": "' + b"x" * (MAX_BODY + 10) + b'"}'))
    await writer.drain()


async def _silent(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
    await reader.read()  # never answers; the client gives up


async def _dribbling(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(200):  # a byte every 0.3 s: each read is in time, the whole answer is not
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(0.3)


async def _not_json(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(_answer(b"<html>gateway</html>", "502 Bad Gateway"))
    await writer.drain()


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        (_oversized, "idp_error"),
        (_silent, "idp_unreachable"),
        (_dribbling, "idp_unreachable"),
        (_not_json, "idp_error"),
    ],
)
async def test_a_hostile_idp_is_one_clear_error_in_bounded_time(
    handler: Handler, reason: str
) -> None:
    async with _serve(handler) as url:
        idp = IdentityProvider(url, "gatehouse", timeout=1.5)
        began = time.monotonic()
        with pytest.raises(SignInError) as caught:
            await idp.metadata()
        assert caught.value.reason == reason
        assert time.monotonic() - began < 4
        if reason == "idp_unreachable":
            assert str(caught.value) == (
                f"the identity provider ({url}) cannot be reached; try again later"
            )


async def test_a_redirect_is_not_followed() -> None:
    async def redirect(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/\r\nContent-Length: 0\r\n\r\n"
        )
        await writer.drain()

    async with _serve(redirect) as url:
        with pytest.raises(SignInError, match="answered HTTP 302"):
            await IdentityProvider(url, "gatehouse", timeout=2).metadata()


async def test_endpoints_that_are_not_http_are_refused() -> None:
    async def discovery(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(_answer(json.dumps(document).encode()))
        await writer.drain()

    async with _serve(discovery) as url:
        document = {
            "issuer": url,
            "token_endpoint": "file:///etc/passwd",
            "jwks_uri": "file:///etc/passwd",
            "device_authorization_endpoint": "ftp://example.test/device",
        }
        idp = IdentityProvider(url, "gatehouse", timeout=2)
        with pytest.raises(SignInError, match="not http"):
            await idp.start_device(("openid",))
        with pytest.raises(SignInError, match="not http"):
            await idp.refresh("r")


def _self_signed(directory: Path) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 that no trust store holds."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


async def test_an_idp_whose_certificate_does_not_verify_is_refused(tmp_path: Path) -> None:
    served: list[bool] = []

    async def discovery(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(True)
        writer.write(_answer(b"{}"))
        await writer.drain()

    async with _serve(discovery, _self_signed(tmp_path)) as url:
        with pytest.raises(SignInError) as caught:
            await IdentityProvider(url, "gatehouse", timeout=3).metadata()
    assert caught.value.reason == "idp_tls"
    assert str(caught.value) == f"the identity provider's ({url}) TLS certificate does not verify"
    assert served == []  # no request was sent over the unverified connection
