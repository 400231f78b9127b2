"""The IdP over HTTP: discovery, its key set (refetched on an unknown key id), device flow, refresh."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from joserfc.jwk import KeySet

from broker.identity.device import DeviceGrant, DevicePoll, Tokens, parse_device_authorization
from broker.identity.errors import SignInError
from broker.identity.tokens import UnknownKey, key_set, verify_token

log = logging.getLogger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
MAX_BODY = 256 * 1024
JWKS_REFETCH_FLOOR = 10.0
"""Seconds between key-set fetches caused by unknown key ids (a flood of forged kids is cheap)."""
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

Sleep = Callable[[float], Awaitable[None]]


class IdentityProvider:
    """One configured IdP: every request bounded by ``timeout``; JSON in, values out."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        *,
        timeout: float = 10.0,
        leeway: float = 60.0,
        clock: Callable[[], float] = time.time,
        jwks_refetch_floor: float = JWKS_REFETCH_FLOOR,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.timeout = timeout
        self.leeway = leeway
        self.clock = clock
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._keys_fetched = float("-inf")
        self._floor = jwks_refetch_floor
        self._lock = asyncio.Lock()

    async def _http(self, url: str, form: Mapping[str, str] | None = None) -> tuple[int, Any]:
        """GET or POST a form; returns status and decoded JSON.

        Raises:
            SignInError: unreachable, timed out, or an answer that is not JSON.
        """
        return await asyncio.to_thread(self._http_sync, url, form)

    def _http_sync(self, url: str, form: Mapping[str, str] | None) -> tuple[int, Any]:
        if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
            raise SignInError("idp_error", "the identity provider names a URL that is not http(s)")
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            url, data=data, headers={"Accept": "application/json"}
        )
        try:
            with _DIRECT.open(request, timeout=self.timeout) as response:
                status, raw = int(response.status), response.read(MAX_BODY)
        except urllib.error.HTTPError as exc:
            status, raw = int(exc.code), exc.read(MAX_BODY)
        except (OSError, ValueError) as exc:
            log.warning("identity provider %s unreachable: %s", self.issuer, exc)
            raise SignInError(
                "idp_unreachable",
                f"the identity provider ({self.issuer}) cannot be reached; try again later",
            ) from None
        try:
            return status, json.loads(raw)
        except ValueError:
            raise SignInError(
                "idp_error",
                f"the identity provider answered HTTP {status} with something unreadable",
            ) from None

    async def metadata(self) -> dict[str, Any]:
        """The discovery document (fetched once); its ``issuer`` must equal ours exactly."""
        if self._metadata is None:
            url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
            status, body = await self._http(url)
            if status != 200 or not isinstance(body, dict):
                raise SignInError(
                    "idp_error", f"the identity provider's discovery answered {status}"
                )
            if body.get("issuer") != self.issuer:
                raise SignInError("wrong_issuer", "the identity provider names another issuer")
            for name in ("token_endpoint", "jwks_uri"):
                if not isinstance(body.get(name), str):
                    raise SignInError("idp_error", f"the identity provider publishes no {name}")
            self._metadata = body
        return self._metadata

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        async with self._lock:
            now = time.monotonic()
            stale = refresh and now - self._keys_fetched >= self._floor
            if self._keys is None or stale:
                status, body = await self._http(str((await self.metadata())["jwks_uri"]))
                if status != 200:
                    raise SignInError(
                        "idp_error", f"the identity provider's key set answered {status}"
                    )
                self._keys = key_set(body)
                self._keys_fetched = now
            return self._keys

    async def verify(
        self, token: object, *, audience: str, nonce: str | None = None
    ) -> dict[str, Any]:
        """Verify a JWT from this IdP; an unknown key id refetches the key set once (rotation).

        Raises:
            SignInError: see :func:`broker.identity.tokens.verify_token`.
        """

        def check(keys: KeySet) -> dict[str, Any]:
            return verify_token(
                token,
                keys,
                issuer=self.issuer,
                audience=audience,
                now=self.clock(),
                leeway=self.leeway,
                nonce=nonce,
            )

        try:
            return check(await self._key_set())
        except UnknownKey:
            return check(await self._key_set(refresh=True))

    async def start_device(self, scopes: tuple[str, ...]) -> DeviceGrant:
        """Ask for a device code (RFC 8628 §3.1)."""
        meta = await self.metadata()
        endpoint = meta.get("device_authorization_endpoint")
        if not isinstance(endpoint, str):
            raise SignInError("idp_error", "the identity provider offers no device sign-in")
        form = {"client_id": self.client_id, "scope": " ".join(scopes)}
        status, body = await self._http(endpoint, form)
        if status != 200:
            raise SignInError(
                "idp_error", f"the identity provider refused a device code (HTTP {status})"
            )
        return parse_device_authorization(body, time.monotonic())

    async def poll_device(
        self, grant: DeviceGrant, sleep: Sleep = asyncio.sleep
    ) -> Mapping[str, Any]:
        """Poll the token endpoint until tokens, denial or the code's expiry (RFC 8628 §3.4-3.5)."""
        endpoint = str((await self.metadata())["token_endpoint"])
        form = {
            "grant_type": DEVICE_GRANT,
            "device_code": grant.device_code,
            "client_id": self.client_id,
        }
        poll = DevicePoll(grant)
        step: Any = poll.first(time.monotonic())
        for _ in range(10_000):  # bounded: the code's expiry ends it long before
            await sleep(step.seconds)
            status, body = await self._http(endpoint, form)
            step = poll.answer(status, body, time.monotonic())
            if isinstance(step, Tokens):
                return step.body
        raise SignInError("expired_token", "the sign-in code expired")

    async def refresh(self, refresh_token: str) -> Mapping[str, Any]:
        """Use a refresh token; the IdP answering ``invalid_grant`` means it no longer vouches."""
        endpoint = str((await self.metadata())["token_endpoint"])
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.client_id,
        }
        status, body = await self._http(endpoint, form)
        if status == 200 and isinstance(body, dict) and isinstance(body.get("id_token"), str):
            return body
        error = body.get("error") if isinstance(body, dict) else None
        if error == "invalid_grant":
            raise SignInError(
                "idp_revoked", "the identity provider no longer vouches for this key's owner"
            )
        raise SignInError("idp_error", f"the identity provider refused the refresh (HTTP {status})")
