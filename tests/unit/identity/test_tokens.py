"""JWT verification: only the IdP's asymmetric keys sign; tampering, `none`, HMAC and junk refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from broker.identity.errors import SignInError
from broker.identity.tokens import UnknownKey, key_set, verify_token

ISS = "https://idp.example.test"
NOW = 1_800_000_000.0
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})
OTHER = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})
KEYS = key_set({"keys": [KEY.as_dict(private=False)]})
CLAIMS: dict[str, Any] = {"iss": ISS, "aud": "gatehouse", "sub": "u1", "exp": NOW + 300}


def sign(
    claims: dict[str, Any] | None = None, key: Any = KEY, header: dict[str, Any] | None = None
) -> str:
    return jwt.encode(header or {"alg": "RS256", "kid": "k1"}, claims or CLAIMS, key)


def verify(token: object, keys: KeySet = KEYS) -> dict[str, Any]:
    return verify_token(token, keys, issuer=ISS, audience="gatehouse", now=NOW, leeway=60)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_good_token_verifies() -> None:
    assert verify(sign())["sub"] == "u1"


def test_signed_by_another_key_with_the_same_kid() -> None:
    with pytest.raises(SignInError) as caught:
        verify(sign(key=OTHER))
    assert caught.value.reason == "bad_signature"


def test_tampered_payload() -> None:
    header, _, signature = sign().split(".")
    forged = f"{header}.{b64({**CLAIMS, 'sub': 'admin'})}.{signature}"
    with pytest.raises(SignInError) as caught:
        verify(forged)
    assert caught.value.reason == "bad_signature"


def test_unknown_kid_asks_for_a_refetch() -> None:
    with pytest.raises(UnknownKey):
        verify(sign(header={"alg": "RS256", "kid": "k2"}))


def test_alg_none_is_refused() -> None:
    token = f"{b64({'alg': 'none', 'kid': 'k1'})}.{b64(CLAIMS)}."
    with pytest.raises(SignInError) as caught:
        verify(token)
    assert caught.value.reason in ("malformed_token", "bad_signature")


def test_hmac_keyed_with_the_public_key_is_refused() -> None:
    public = json.dumps(KEY.as_dict(private=False)).encode()
    token = jwt.encode({"alg": "HS256", "kid": "k1"}, CLAIMS, OctKey.import_key(public))
    with pytest.raises(SignInError):
        verify(token)


def test_private_keys_in_a_jwks_are_ignored() -> None:
    keys = key_set({"keys": [KEY.as_dict(private=True)]})
    with pytest.raises(UnknownKey):
        verify(sign(), keys)


@pytest.mark.parametrize("junk", [None, 7, "", "a.b", "a.b.c.d", "x" * 20000, "...", "é.é.é"])
def test_junk_is_malformed(junk: object) -> None:
    with pytest.raises(SignInError) as caught:
        verify(junk)
    assert caught.value.reason in ("malformed_token", "bad_signature")


@given(st.text(max_size=300))
def test_hostile_text_raises_only_sign_in_errors(text: str) -> None:
    with pytest.raises(SignInError):
        verify(text)


@given(st.binary(max_size=200), st.binary(max_size=200))
def test_hostile_segments_raise_only_sign_in_errors(head: bytes, body: bytes) -> None:
    enc = base64.urlsafe_b64encode
    token = f"{enc(head).decode()}.{enc(body).decode()}.{sign().split('.')[2]}"
    with pytest.raises(SignInError):
        verify(token)


@pytest.mark.parametrize("document", [None, [], {"keys": "x"}, {"keys": [{"kty": "nope"}]}])
def test_malformed_key_sets(document: object) -> None:
    with pytest.raises(SignInError) as caught:
        key_set(document)
    assert caught.value.reason == "bad_jwks"
