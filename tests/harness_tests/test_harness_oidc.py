"""The oidc-provider completes the device flow and issues ID tokens carrying ``groups``."""

from __future__ import annotations

import json
import urllib.request

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from tests.harness import HarnessError, OidcProvider, jwt_claims


def test_discovery_advertises_the_device_grant(oidc_provider: OidcProvider) -> None:
    meta = oidc_provider.metadata
    assert meta["issuer"] == oidc_provider.issuer
    assert oidc_provider.issuer.startswith("http://127.0.0.1:")
    assert "urn:ietf:params:oauth:grant-type:device_code" in meta["grant_types_supported"]
    assert "groups" in meta["claims_supported"]


def test_device_flow_yields_an_id_token_with_groups(oidc_provider: OidcProvider) -> None:
    grant = oidc_provider.start_device_authorization()
    assert grant.interval == 5
    page = oidc_provider.complete_device_flow(grant.verification_uri, grant.user_code, "alice")
    assert "Success" in page
    answer = oidc_provider.poll_device_token(grant.device_code)
    assert answer.status == 200
    claims = jwt_claims(answer.body["id_token"])
    assert claims["sub"] == "alice"
    assert claims["groups"] == ["engineers"]
    assert claims["aud"] == "gatehouse"
    assert claims["iss"] == oidc_provider.issuer


def test_id_token_verifies_against_the_jwks(oidc_provider: OidcProvider) -> None:
    grant = oidc_provider.start_device_authorization()
    oidc_provider.complete_device_flow(grant.verification_uri, grant.user_code, "bob")
    id_token = oidc_provider.poll_device_token(grant.device_code).body["id_token"]
    with urllib.request.urlopen(oidc_provider.jwks_uri, timeout=10) as response:
        keys = KeySet.import_key_set(json.load(response))
    token = jwt.decode(id_token, keys)
    assert token.claims["groups"] == ["approvers", "reviewers", "auditors"]
    header, payload, signature = id_token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(BadSignatureError):
        jwt.decode(tampered, keys)


def test_token_is_pending_until_the_person_acts(oidc_provider: OidcProvider) -> None:
    grant = oidc_provider.start_device_authorization()
    answer = oidc_provider.token(
        {
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": grant.device_code,
            "client_id": oidc_provider.client_id,
        }
    )
    assert (answer.status, answer.error) == (400, "authorization_pending")


def test_abort_gives_access_denied(oidc_provider: OidcProvider) -> None:
    grant = oidc_provider.start_device_authorization()
    oidc_provider.complete_device_flow(grant.verification_uri, grant.user_code, approve=False)
    assert oidc_provider.poll_device_token(grant.device_code).error == "access_denied"


def test_wrong_user_code_is_rejected(oidc_provider: OidcProvider) -> None:
    grant = oidc_provider.start_device_authorization()
    with pytest.raises(HarnessError, match="login page"):
        oidc_provider.complete_device_flow(grant.verification_uri, "BCDF-GHJK")


def test_a_used_user_code_cannot_be_used_again(oidc_provider: OidcProvider) -> None:
    grant = oidc_provider.start_device_authorization()
    oidc_provider.complete_device_flow(grant.verification_uri, grant.user_code)
    with pytest.raises(HarnessError):
        oidc_provider.complete_device_flow(grant.verification_uri, grant.user_code, "bob")
    assert jwt_claims(oidc_provider.poll_device_token(grant.device_code).body["id_token"])[
        "sub"
    ] == ("alice")


def test_unknown_account_has_no_groups(oidc_provider: OidcProvider) -> None:
    grant = oidc_provider.start_device_authorization()
    oidc_provider.complete_device_flow(grant.verification_uri, grant.user_code, "mallory")
    claims = jwt_claims(oidc_provider.poll_device_token(grant.device_code).body["id_token"])
    assert (claims["sub"], claims["groups"]) == ("mallory", [])


def test_device_code_is_single_use(oidc_provider: OidcProvider) -> None:
    grant = oidc_provider.start_device_authorization()
    oidc_provider.complete_device_flow(grant.verification_uri, grant.user_code)
    assert oidc_provider.poll_device_token(grant.device_code).status == 200
    again = oidc_provider.poll_device_token(grant.device_code)
    assert (again.status, again.error) == (400, "invalid_grant")


def test_refresh_token_grant(oidc_provider: OidcProvider) -> None:
    grant = oidc_provider.start_device_authorization()
    oidc_provider.complete_device_flow(grant.verification_uri, grant.user_code)
    first = oidc_provider.poll_device_token(grant.device_code).body
    refreshed = oidc_provider.token(
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": oidc_provider.client_id,
        }
    )
    assert refreshed.status == 200
    assert jwt_claims(refreshed.body["id_token"])["groups"] == ["engineers"]
    bogus = oidc_provider.token(
        {"grant_type": "refresh_token", "refresh_token": "bogus", "client_id": "gatehouse"}
    )
    assert (bogus.status, bogus.error) == (400, "invalid_grant")


def test_confidential_client_needs_its_secret(oidc_provider: OidcProvider) -> None:
    client = oidc_provider.confidential_client_id
    grant = oidc_provider.start_device_authorization(client_id=client)
    oidc_provider.complete_device_flow(grant.verification_uri, grant.user_code)
    wrong = oidc_provider.token(
        {
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": grant.device_code,
            "client_id": client,
            "client_secret": "wrong",
        }
    )
    assert (wrong.status, wrong.error) == (401, "invalid_client")
    assert oidc_provider.poll_device_token(grant.device_code, client_id=client).status == 200


def test_unknown_client_cannot_start_a_device_flow(oidc_provider: OidcProvider) -> None:
    with pytest.raises(HarnessError, match=r"answered 40[01]"):
        oidc_provider.start_device_authorization(client_id="intruder")
