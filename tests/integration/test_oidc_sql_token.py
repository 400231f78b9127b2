"""A CI job's GATEHOUSE_TOKEN for `sql`: real OpenSSH client, broker, oidc-provider and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.harness import OidcProvider, PostgresServer
from tests.harness.oidc import jwt_claims
from tests.harness.ssh_client import ssh_client_argv
from tests.support.broker import BrokerProcess, keygen

POLICY = """\
access:
  - {name: ci-reads-shop, groups: [deployers], connections: [shop], action: allow}
masking:
  detectors: {enable: all, disable: [ipv4, ipv6]}
"""
BRIEF_TTL = 2
"""Seconds the ``ci-brief`` client's access tokens live (the expired-token case)."""


@pytest.fixture(scope="module")
def idp() -> Iterator[OidcProvider]:
    clients = {"ci-deploy": os.urandom(12).hex(), "ci-brief": os.urandom(12).hex()}
    clients["ci-retired"] = os.urandom(12).hex()
    with OidcProvider(service_clients=clients, access_ttls={"ci-brief": BRIEF_TTL}) as provider:
        yield provider


@pytest.fixture(scope="module")
def broker(idp: OidcProvider, postgres_server: PostgresServer) -> Iterator[BrokerProcess]:
    oidc = {
        "issuer": idp.issuer,
        "client_id": idp.client_id,
        "audience": "urn:gatehouse",
        # ci-retired is not (or no longer) a service here: its tokens are refused
        "services": {
            "ci-deploy": {"user": "ci", "groups": ["deployers"]},
            "ci-brief": {"user": "ci", "groups": ["deployers"]},
        },
        "leeway_seconds": 0,
    }
    shop = postgres_server.connection(read_only=True)
    proc = BrokerProcess({}, {"shop": shop}, POLICY, extra={"oidc": oidc})
    proc.set_secret("shop", postgres_server.password.encode())
    with proc:
        yield proc


def sql_with_token(
    broker: BrokerProcess, token: str, *remote: str, user: str = "ci"
) -> subprocess.CompletedProcess[bytes]:
    key = broker.dir / f"ci-{os.urandom(3).hex()}_ed25519"  # a key nobody enrolled
    keygen(key, user)
    argv = ssh_client_argv(broker.port, user, key, "sql", *remote, tty=False)
    argv[1:1] = ["-o", "SendEnv=GATEHOUSE_TOKEN"]
    return subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        env={**os.environ, "GATEHOUSE_TOKEN": token},
        check=False,
    )


def test_a_ci_token_runs_sql_as_its_service(broker: BrokerProcess, idp: OidcProvider) -> None:
    token = idp.client_credentials().body["access_token"]
    result = sql_with_token(broker, token, "shop", "--csv", "--", "select 6 * 7 as answer")
    assert (result.returncode, result.stdout) == (0, b"answer\n42\n"), result.stderr
    records = broker.audit_records()
    statement = next(r for r in records if r["action"] == "sql.statement" and r["actor"] == "ci")
    assert statement["details"]["idp_subject"] == "ci-deploy"
    assert statement["details"]["idp_issuer"] == idp.issuer
    login = next(r for r in records if r["action"] == "login.idp" and r["actor"] == "ci")
    assert login["details"]["method"] == "token"
    assert token not in json.dumps(records)
    assert token not in broker.log()


def _expired(idp: OidcProvider) -> str:
    token = str(idp.client_credentials("ci-brief").body["access_token"])
    expires = jwt_claims(token)["exp"]
    assert expires - time.time() <= BRIEF_TTL + 1
    deadline = time.monotonic() + BRIEF_TTL + 5
    while time.time() <= expires:  # the token's own clock, not a guessed sleep
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return token


@pytest.mark.parametrize(
    ("case", "message", "reason"),
    [
        ("tampered", "signature does not verify", "bad_signature"),
        ("expired", "clocks disagree", "expired"),
        ("other-audience", "issued for another audience", "wrong_audience"),
        ("retired-service", "not a configured service", "unknown_service"),
        ("garbage", "not a signed JWT", "malformed_token"),
        ("other-user", "is for service 'ci', not 'dora'", "wrong_user"),
    ],
)
def test_refused_tokens_are_one_line_and_an_audit_record(
    broker: BrokerProcess, idp: OidcProvider, case: str, message: str, reason: str
) -> None:
    user = "ci"
    if case == "tampered":
        token = idp.client_credentials().body["access_token"][:-6] + "AAAAAA"
    elif case == "expired":
        token = _expired(idp)
    elif case == "other-audience":
        token = idp.client_credentials(resource="urn:other").body["access_token"]
    elif case == "retired-service":
        token = idp.client_credentials("ci-retired").body["access_token"]
    elif case == "garbage":
        token = "not-a-token"
    else:
        token, user = idp.client_credentials().body["access_token"], "dora"
    before = len(broker.audit_records())
    result = sql_with_token(broker, token, "shop", "--", "select 1", user=user)
    assert (result.returncode, result.stdout) == (1, b""), result.stderr
    err = result.stderr.decode()
    assert err.startswith("gatehouse: sign-in failed: "), err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    new = broker.audit_records()[before:]
    refused = [r for r in new if r["action"] == "login.idp_failed"]
    assert [r["details"]["reason"] for r in refused] == [reason]
    assert refused[0]["actor"] == user
    assert refused[0]["details"]["method"] == "token"
    assert not any(r["action"] == "sql.statement" for r in new)
    assert token not in json.dumps(new)


def test_a_person_without_a_token_is_not_let_through(broker: BrokerProcess) -> None:
    """No token and no enrolment: `sql` waits for a device sign-in, it never runs unsigned."""
    key = broker.dir / f"eve-{os.urandom(3).hex()}_ed25519"
    keygen(key, "eve")
    argv = ssh_client_argv(broker.port, "eve", key, "sql", "shop", "--", "select 1", tty=False)
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert b"Sign in with your organisation's identity provider" in first
    finally:
        proc.kill()
        out, _ = proc.communicate(timeout=10)
    assert out == b""
