"""The IdP's HTTP edge against hostile servers on loopback: oversized, silent, dribbling, not JSON."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from broker.identity.errors import SignInError
from broker.identity.idp import IdentityProvider
from broker.identity.oauth import MAX_BODY

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def _serve(handler: Handler) -> AsyncIterator[str]:
    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
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
