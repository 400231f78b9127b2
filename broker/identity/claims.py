"""Checks on verified token claims, and IdP groups turned into broker groups (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.identity.errors import SignInError

MAX_GROUPS = 256
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:/+-]{0,127}")
"""Names that may come from a claim: no spaces, control characters or markup brackets."""


@dataclass(frozen=True)
class Identity:
    """Someone the IdP vouched for, as the broker will treat them."""

    issuer: str
    """The IdP's issuer URL (``iss``)."""
    subject: str
    """The IdP's stable id of them (``sub``)."""
    name: str
    """The principal name (SSH login name of a person, configured name of a service)."""
    groups: tuple[str, ...]
    """Broker groups, after ``oidc.group_map``."""
    idp_groups: tuple[str, ...] = ()
    """Groups as the IdP named them."""
    kind: str = "person"
    """``person`` (device flow / enrolled key) or ``service`` (access token)."""

    def audit_details(self) -> dict[str, str]:
        """The fields every audit record of this identity's session carries."""
        return {"idp_issuer": self.issuer, "idp_subject": self.subject}


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SignInError("malformed_token", f"the token's {name!r} claim is not a number")
    return float(value)


def check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audience: str,
    now: float,
    leeway: float,
    nonce: str | None = None,
) -> None:
    """Refuse claims that are not for us, not from our IdP, or not valid now.

    Args:
        claims: Claims of a token whose signature was already verified.
        issuer: The configured issuer; ``iss`` must equal it exactly.
        audience: Our client id (ID tokens) or API audience (access tokens).
        now: Current time, seconds since the epoch.
        leeway: Clock skew tolerated, seconds.
        nonce: The nonce sent, when one was.

    Raises:
        SignInError: naming the first claim that fails.
    """
    if claims.get("iss") != issuer:
        raise SignInError("wrong_issuer", "the token was issued by another identity provider")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences or not all(isinstance(a, str) for a in audiences):
        raise SignInError("wrong_audience", "the token was issued for another audience")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") not in (None, audience):
        raise SignInError("wrong_audience", "the token was issued for another party")
    exp = _number(claims, "exp")
    if exp is None:
        raise SignInError("malformed_token", "the token has no expiry")
    if now > exp + leeway:
        raise SignInError("expired", "the token has expired (or the clocks disagree)")
    for name in ("nbf", "iat"):
        stamp = _number(claims, name)
        if stamp is not None and stamp > now + leeway:
            raise SignInError("not_yet_valid", "the token is not valid yet (the clocks disagree)")
    if nonce is not None and claims.get("nonce") != nonce:
        raise SignInError("bad_nonce", "the token answers another sign-in (nonce mismatch)")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= 255:
        raise SignInError("malformed_token", "the token names no subject")


def groups_from(claims: Mapping[str, Any], claim: str) -> tuple[str, ...]:
    """The IdP groups in ``claim``: a list of names (or one name); anything else gives none.

    Names that are not plain identifiers are dropped, not repaired; at most ``MAX_GROUPS``.
    """
    value = claims.get(claim)
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    kept: list[str] = []
    for item in items:
        if isinstance(item, str) and _NAME.fullmatch(item) and item not in kept:
            kept.append(item)
        if len(kept) >= MAX_GROUPS:
            break
    return tuple(kept)


def map_groups(
    idp_groups: tuple[str, ...], group_map: Mapping[str, tuple[str, ...]]
) -> tuple[str, ...]:
    """Broker groups for ``idp_groups``: through ``group_map`` when it has entries, else as-is."""
    if not group_map:
        return idp_groups
    mapped: list[str] = []
    for group in idp_groups:
        for broker_group in group_map.get(group, ()):
            if broker_group not in mapped:
                mapped.append(broker_group)
    return tuple(mapped)


def claimed_name(claims: Mapping[str, Any], claim: str) -> str:
    """The login name the IdP states in ``claim`` (empty when absent or not a plain name)."""
    value = claims.get(claim)
    return value if isinstance(value, str) and _NAME.fullmatch(value) else ""


def with_userinfo(
    claims: Mapping[str, Any], userinfo: object, names: tuple[str, ...]
) -> dict[str, Any]:
    """The ID token's claims, with ``names`` it lacks taken from the IdP's userinfo answer.

    An IdP that conforms strictly to OIDC Core §5.4 puts the claims a scope asks for
    (``profile``, ``groups``) at its userinfo endpoint, not in the ID token, when it also
    issues an access token. The ID token's own claims always win; userinfo only fills gaps,
    and only when it speaks of the same subject (OIDC Core §5.3.4).

    Raises:
        SignInError: the answer is not an object, or names another subject.
    """
    if not isinstance(userinfo, Mapping):
        raise SignInError("idp_error", "the identity provider's userinfo is not an object")
    if userinfo.get("sub") != claims.get("sub"):
        raise SignInError(
            "userinfo_subject", "the identity provider's userinfo is about someone else"
        )
    merged = dict(claims)
    for name in names:
        if name not in merged and name in userinfo:
            merged[name] = userinfo[name]
    return merged
