"""Signature and claims of an IdP's JWT, verified with joserfc against the IdP's key set (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError, JoseError, MissingKeyError
from joserfc.jwk import KeySet

from broker.identity.claims import check_claims
from broker.identity.errors import SignInError

MAX_TOKEN = 16 * 1024
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
"""Asymmetric only: never ``none``, never an HMAC keyed with something public."""


class UnknownKey(SignInError):
    """The token names a key id the key set does not hold (the IdP may have rotated keys)."""

    def __init__(self) -> None:
        super().__init__("unknown_key", "the token is signed with a key the IdP does not publish")


def key_set(document: object) -> KeySet:
    """Import a JWKS document (public signing keys only).

    Raises:
        SignInError: the document is not a usable key set.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise SignInError("bad_jwks", "the IdP's key set (jwks_uri) is malformed")
    public: list[Any] = [
        dict(key)
        for key in document["keys"]
        if isinstance(key, Mapping) and key.get("use", "sig") == "sig" and "d" not in key
    ]
    if not public:
        return KeySet([])
    try:
        return KeySet.import_key_set({"keys": public})
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise SignInError("bad_jwks", "the IdP's key set (jwks_uri) is malformed") from exc


def verify_token(
    token: object,
    keys: KeySet,
    *,
    issuer: str,
    audience: str,
    now: float,
    leeway: float,
    nonce: str | None = None,
) -> dict[str, Any]:
    """Verify a compact JWS from the IdP and return its claims.

    Args:
        token: The token as received (hostile until verified).
        keys: The IdP's current key set.
        issuer: Expected ``iss``.
        audience: Expected ``aud``.
        now: Seconds since the epoch.
        leeway: Clock skew tolerated.
        nonce: Expected nonce, when one was sent.

    Raises:
        UnknownKey: no key in ``keys`` has the token's ``kid`` (refetch the key set once).
        SignInError: malformed, bad signature, or claims that do not hold.
    """
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN or token.count(".") != 2:
        raise SignInError("malformed_token", "the token is not a signed JWT")
    try:
        decoded = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
    except (InvalidKeyIdError, MissingKeyError):
        raise UnknownKey() from None
    except BadSignatureError:
        raise SignInError("bad_signature", "the token's signature does not verify") from None
    except (JoseError, ValueError, TypeError, KeyError, UnicodeError) as exc:
        raise SignInError("malformed_token", "the token is not a signed JWT") from exc
    claims = decoded.claims
    if not isinstance(claims, dict):
        raise SignInError("malformed_token", "the token's claims are not an object")
    check_claims(claims, issuer=issuer, audience=audience, now=now, leeway=leeway, nonce=nonce)
    return claims
