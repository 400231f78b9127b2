"""The device authorization grant (RFC 8628) as a state machine: answers in, next step out (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from broker.identity.errors import SignInError

DEFAULT_INTERVAL = 5
SLOW_DOWN_STEP = 5
MAX_INTERVAL = 60
MAX_EXPIRES = 3600
_MESSAGES = {
    "access_denied": "sign-in was denied at the identity provider",
    "expired_token": "the sign-in code expired before it was used; connect again for a new one",
}


@dataclass(frozen=True)
class DeviceGrant:
    """What the person is shown, and what the broker polls with."""

    device_code: str
    """Secret polled with; never shown or logged."""
    user_code: str
    """Code the person enters at the IdP."""
    verification_uri: str
    """Where the person goes."""
    verification_uri_complete: str
    """The same page with the code filled in (what the QR code holds); may equal the above."""
    expires_at: float
    """Deadline (same clock as ``now`` given to :func:`parse_device_authorization`)."""
    interval: float
    """Seconds between polls, as the IdP asked (5 when it did not)."""


def _text(body: Mapping[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= limit or not value.isprintable():
        raise SignInError("idp_error", f"the identity provider's device answer has no valid {name}")
    return value


def _url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise SignInError("idp_error", f"the identity provider's {name} is not a web address")
    return value


def parse_device_authorization(body: object, now: float) -> DeviceGrant:
    """Read the IdP's answer to the device authorization request (RFC 8628 §3.2).

    Raises:
        SignInError: a field is missing, of the wrong type, or not plausible.
    """
    if not isinstance(body, Mapping):
        raise SignInError("idp_error", "the identity provider's device answer is not an object")
    uri = _url(_text(body, "verification_uri", 2048), "verification_uri")
    complete = body.get("verification_uri_complete", uri)
    if not isinstance(complete, str) or not complete.startswith(uri.split("?", 1)[0]):
        complete = uri
    expires = body.get("expires_in")
    if isinstance(expires, bool) or not isinstance(expires, int) or expires <= 0:
        raise SignInError("idp_error", "the identity provider's device answer has no expires_in")
    interval = body.get("interval", DEFAULT_INTERVAL)
    if isinstance(interval, bool) or not isinstance(interval, int) or interval <= 0:
        interval = DEFAULT_INTERVAL
    return DeviceGrant(
        device_code=_text(body, "device_code", 4096),
        user_code=_text(body, "user_code", 64),
        verification_uri=uri,
        verification_uri_complete=complete,
        expires_at=now + min(expires, MAX_EXPIRES),
        interval=float(min(interval, MAX_INTERVAL)),
    )


@dataclass(frozen=True)
class Wait:
    """Poll again after ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class Tokens:
    """The IdP answered with tokens."""

    body: Mapping[str, Any]


class DevicePoll:
    """Decides, from each token-endpoint answer, whether to wait, stop with tokens, or fail."""

    def __init__(self, grant: DeviceGrant) -> None:
        self.grant = grant
        self.interval = grant.interval

    def first(self, now: float) -> Wait:
        """The wait before the first poll."""
        return self._wait(now)

    def answer(self, status: int, body: object, now: float) -> Wait | Tokens:
        """Take one answer of the token endpoint.

        Raises:
            SignInError: denied, expired, or an answer that is neither tokens nor pending.
        """
        if not isinstance(body, Mapping):
            raise SignInError("idp_error", "the identity provider answered something unreadable")
        if status == 200 and isinstance(body.get("id_token"), str):
            return Tokens(body)
        error = body.get("error")
        if error == "authorization_pending":
            return self._wait(now)
        if error == "slow_down":
            self.interval = min(self.interval + SLOW_DOWN_STEP, MAX_INTERVAL)
            return self._wait(now)
        if error in _MESSAGES:
            raise SignInError(str(error), _MESSAGES[str(error)])
        code = error if isinstance(error, str) and error.isidentifier() else "idp_error"
        raise SignInError(
            code[:64], f"the identity provider refused the sign-in ({code[:64]}, HTTP {status})"
        )

    def _wait(self, now: float) -> Wait:
        if now + self.interval > self.grant.expires_at:
            raise SignInError("expired_token", _MESSAGES["expired_token"])
        return Wait(self.interval)
