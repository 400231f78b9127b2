"""authlib's OAuth 2 client for the IdP: bounded in time and size, proxy-free, errors as SignInError."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

from broker.identity.errors import SignInError

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
"""Largest answer read from the IdP (discovery, key set, tokens are a few KiB)."""


class _CappedStream(httpx2.AsyncByteStream):
    """An answer's body that stops being read past ``limit`` bytes."""

    def __init__(self, inner: httpx2.AsyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        total = 0
        async for chunk in self._inner:
            total += len(chunk)
            if total > self._limit:
                raise SignInError("idp_error", "the identity provider's answer is too large")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The verifying TLS context of every IdP request: httpx2's default, built once.

    Building it loads the system's trust store (~85 ms on the test machine); a context per
    request would put that on every poll and every login that asks the IdP.
    """
    return httpx2.create_ssl_context(verify=True, trust_env=False)


class CappedTransport(httpx2.AsyncBaseTransport):
    """httpx2's own transport (TLS verified) whose answers are capped at ``limit`` bytes."""

    def __init__(self, limit: int = MAX_BODY) -> None:
        self._inner = httpx2.AsyncHTTPTransport(verify=tls_context(), trust_env=False)
        self._limit = limit

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        stream = response.stream
        assert isinstance(stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_CappedStream(stream, self._limit),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def oauth_client(client_id: str, timeout: float, access_token: str | None = None) -> Any:
    """A fresh authlib client for one exchange (its tokens are not shared between people).

    A public client (``token_endpoint_auth_method="none"``: the client id goes in the form),
    no proxy from the environment, no redirects followed, every request bounded by ``timeout``;
    with ``access_token``, its requests carry it as a bearer token (userinfo).
    """
    token = None if access_token is None else {"access_token": access_token, "token_type": "Bearer"}
    return AsyncOAuth2Client(
        client_id=client_id,
        token=token,
        token_endpoint_auth_method="none",  # noqa: S106 (a method's name, not a secret)
        timeout=httpx2.Timeout(timeout),
        transport=CappedTransport(),
        trust_env=False,
        follow_redirects=False,
        headers={"Accept": "application/json"},
    )


def checked_url(url: object) -> str:
    """An endpoint the IdP names, refused unless it is an http(s) address.

    Raises:
        SignInError: not a string, or another scheme.
    """
    if not isinstance(url, str) or urlsplit(url).scheme not in ("https", "http"):
        raise SignInError("idp_error", "the identity provider names a URL that is not http(s)")
    return url


@asynccontextmanager
async def talking_to(issuer: str, seconds: float) -> AsyncIterator[None]:
    """Bounds one exchange by ``seconds`` in all and turns its failures into a clear error each.

    An OAuth error answer (``authorization_pending``, ``invalid_grant`` …) is not turned: the
    caller decides on :class:`authlib.integrations.httpx_client.OAuthError` itself.
    """
    try:
        async with asyncio.timeout(seconds):  # in all: an IdP dribbling bytes is cut off too
            yield
    except OAuthError:
        raise
    except httpx2.HTTPStatusError as exc:
        raise SignInError(
            "idp_error", f"the identity provider answered HTTP {exc.response.status_code}"
        ) from None
    except (httpx2.TransportError, OSError) as exc:  # TimeoutError is an OSError
        if _tls_failure(exc):
            log.warning("identity provider %s: TLS does not verify", issuer)
            raise SignInError(
                "idp_tls",
                f"the identity provider's ({issuer}) TLS certificate does not verify",
            ) from None
        log.warning("identity provider %s unreachable: %s", issuer, type(exc).__name__)
        raise SignInError(
            "idp_unreachable",
            f"the identity provider ({issuer}) cannot be reached; try again later",
        ) from None
    except (httpx2.HTTPError, httpx2.InvalidURL, ValueError):
        raise SignInError(
            "idp_error", "the identity provider answered something unreadable"
        ) from None


def _tls_failure(exc: BaseException) -> bool:
    """Whether a transport error was a certificate (or TLS handshake) that did not verify."""
    seen: BaseException | None = exc
    for _ in range(8):  # bounded walk down the causes
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def json_of(response: httpx2.Response) -> Any:
    """The JSON of an answer (the body is already capped).

    Raises:
        SignInError: not JSON.
    """
    try:
        return response.json()
    except ValueError:
        raise SignInError(
            "idp_error",
            f"the identity provider answered HTTP {response.status_code} with something unreadable",
        ) from None
