"""The IdP over HTTP: discovery, its key set (refetched on an unknown key id), device flow, refresh."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from authlib.integrations.httpx_client import OAuthError
from joserfc.jwk import KeySet

from broker.identity.device import DeviceGrant, DevicePoll, Tokens, parse_device_authorization
from broker.identity.errors import SignInError
from broker.identity.oauth import checked_url, json_of, oauth_client, talking_to, tls_context
from broker.identity.tokens import UnknownKey, key_set, verify_token

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWKS_REFETCH_FLOOR = 10.0
"""Seconds between key-set fetches caused by unknown key ids (a flood of forged kids is cheap)."""

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
        tls_context()  # built now, at start, not on the event loop during a sign-in

    async def _get(self, url: str) -> tuple[int, Any]:
        """GET a JSON document (discovery, key set) with authlib's client; status and JSON.

        Raises:
            SignInError: unreachable, timed out, too large, or an answer that is not JSON.
        """
        async with (
            oauth_client(self.client_id, self.timeout) as client,
            talking_to(self.issuer, self.timeout),
        ):
            response = await client.request("GET", checked_url(url), withhold_token=True)
            return response.status_code, json_of(response)

    async def metadata(self) -> dict[str, Any]:
        """The discovery document (fetched once); its ``issuer`` must equal ours exactly."""
        if self._metadata is None:
            url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
            status, body = await self._get(url)
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
                status, body = await self._get(str((await self.metadata())["jwks_uri"]))
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
        """Ask for a device code (RFC 8628 §3.1), the client authenticated as authlib does it."""
        meta = await self.metadata()
        endpoint = meta.get("device_authorization_endpoint")
        if not isinstance(endpoint, str):
            raise SignInError("idp_error", "the identity provider offers no device sign-in")
        async with (
            oauth_client(self.client_id, self.timeout) as client,
            talking_to(self.issuer, self.timeout),
        ):
            response = await client.post(
                checked_url(endpoint),
                data={"scope": " ".join(scopes)},
                auth=client.client_auth(client.token_endpoint_auth_method),
            )
            status, body = response.status_code, json_of(response)
        if status != 200:
            raise SignInError(
                "idp_error", f"the identity provider refused a device code (HTTP {status})"
            )
        return parse_device_authorization(body, time.monotonic())

    async def poll_device(
        self, grant: DeviceGrant, sleep: Sleep = asyncio.sleep
    ) -> Mapping[str, Any]:
        """Poll the token endpoint until tokens, denial or the code's expiry (RFC 8628 §3.4-3.5).

        Each poll is authlib's ``fetch_token`` with the device-code grant; its OAuth error
        answers (``authorization_pending``, ``slow_down`` …) go to the pure :class:`DevicePoll`.
        """
        endpoint = checked_url((await self.metadata())["token_endpoint"])
        poll = DevicePoll(grant)
        step: Any = poll.first(time.monotonic())
        statuses: list[int] = []

        def seen(response: Any) -> Any:
            statuses.append(int(response.status_code))
            return response

        async with oauth_client(self.client_id, self.timeout) as client:
            client.register_compliance_hook("access_token_response", seen)
            for _ in range(10_000):  # bounded: the code's expiry ends it long before
                await sleep(step.seconds)
                statuses.clear()
                try:
                    async with talking_to(self.issuer, self.timeout):
                        token = await client.fetch_token(
                            endpoint, grant_type=DEVICE_GRANT, device_code=grant.device_code
                        )
                    status, body = (statuses or [200])[-1], dict(token)
                except OAuthError as exc:
                    status, body = (statuses or [400])[-1], {"error": exc.error}
                step = poll.answer(status, body, time.monotonic())
                if isinstance(step, Tokens):
                    return step.body
        raise SignInError("expired_token", "the sign-in code expired")

    async def has_userinfo(self) -> bool:
        """Whether the IdP publishes a userinfo endpoint."""
        return isinstance((await self.metadata()).get("userinfo_endpoint"), str)

    async def userinfo(self, access_token: str) -> Any:
        """The userinfo answer for an access token (authlib's client sends it as a bearer).

        Raises:
            SignInError: no userinfo endpoint, refused, unreachable, or not JSON.
        """
        endpoint = (await self.metadata()).get("userinfo_endpoint")
        if not isinstance(endpoint, str):
            raise SignInError("idp_error", "the identity provider publishes no userinfo_endpoint")
        async with (
            oauth_client(self.client_id, self.timeout, access_token) as client,
            talking_to(self.issuer, self.timeout),
        ):
            response = await client.request("GET", checked_url(endpoint))
            status, body = response.status_code, json_of(response)
        if status != 200:
            raise SignInError("idp_error", f"the identity provider's userinfo answered {status}")
        return body

    async def refresh(self, refresh_token: str) -> Mapping[str, Any]:
        """Use a refresh token; the IdP answering ``invalid_grant`` means it no longer vouches."""
        endpoint = checked_url((await self.metadata())["token_endpoint"])
        try:
            async with (
                oauth_client(self.client_id, self.timeout) as client,
                talking_to(self.issuer, self.timeout),
            ):
                body = dict(await client.refresh_token(endpoint, refresh_token=refresh_token))
        except OAuthError as exc:
            if exc.error == "invalid_grant":
                raise SignInError(
                    "idp_revoked", "the identity provider no longer vouches for this key's owner"
                ) from None
            raise SignInError(
                "idp_error", f"the identity provider refused the refresh ({_code(exc.error)})"
            ) from None
        if not isinstance(body.get("id_token"), str):
            raise SignInError("idp_error", "the identity provider's refresh gave no ID token")
        return body


def _code(error: object) -> str:
    """An IdP's error code as safe to show (an identifier, or a generic word)."""
    return error[:64] if isinstance(error, str) and error.isidentifier() else "idp_error"
