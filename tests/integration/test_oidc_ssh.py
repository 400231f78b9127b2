"""Sign-in with the IdP at the SSH front door: real OpenSSH client, broker and oidc-provider."""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import OidcProvider
from tests.harness.accounts import local_connection
from tests.harness.ssh_client import ssh_client_argv
from tests.support.broker import BrokerProcess, keygen

POLICY = """\
access:
  - {name: eng, groups: [engineers], connections: [shell], action: allow}
  - {name: ci, groups: [deployers], connections: [shell], action: allow}
  - {name: prod, groups: [engineers], connections: [prod], action: approval,
     approvers: [approvers], approvals: 1, grant: 1h}
"""
PROMPT = re.compile(rb"open\s+(\S+)\r?\n\s+code\s+(\S+)")


def oidc_config(idp: OidcProvider, **over: Any) -> dict[str, Any]:
    return {
        "oidc": {
            "issuer": idp.issuer,
            "client_id": idp.client_id,
            "scopes": ["openid", "profile", "groups", "offline_access"],
            "group_map": {
                "engineers": ["engineers"],
                "auditors": ["auditors"],
                "approvers": ["approvers"],
            },
            "audience": "urn:gatehouse",
            "services": {"ci-deploy": {"user": "ci", "groups": ["deployers"]}},
            "enrol_hours": 1,
            **over,
        }
    }


@pytest.fixture(scope="module")
def broker(oidc_provider: OidcProvider) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(
        {"ops1": ["engineers"]},
        {
            "shell": local_connection(["bash", "--norc"], accepts="shell"),
            "prod": local_connection(["bash", "--norc"], accepts="shell"),
        },
        POLICY,
        extra=oidc_config(oidc_provider),
    )
    with proc:
        yield proc


def audit_records(broker: BrokerProcess) -> list[dict[str, Any]]:
    out = []
    for seg in sorted((broker.dir / "state" / "audit").glob("audit-*.jsonl")):
        out += [json.loads(line) for line in seg.read_text().splitlines() if line.strip()]
    return out


def person_key(broker: BrokerProcess, name: str) -> Path:
    key = broker.dir / f"{name}-{os.urandom(3).hex()}_ed25519"
    keygen(key, name)
    return key


class Client:
    """``ssh USER@broker run …`` whose stderr is read as it comes (the device prompt)."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        self.stderr = b""

    def prompt(self, timeout: float = 20) -> tuple[str, str]:
        """Wait for the verification URL and user code on stderr."""
        assert self.proc.stderr is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        try:
            while (found := PROMPT.search(self.stderr)) is None:
                left = deadline - time.monotonic()
                assert left > 0, f"no device prompt: {self.stderr!r}"
                if sel.select(left):
                    chunk = os.read(self.proc.stderr.fileno(), 65536)
                    assert chunk, f"ssh ended before the prompt: {self.stderr!r}"
                    self.stderr += chunk
        finally:
            sel.close()
        return found[1].decode(), found[2].decode()

    def finish(self, timeout: float = 30) -> tuple[int, bytes, bytes]:
        out, err = self.proc.communicate(timeout=timeout)
        self.stderr += err
        return self.proc.returncode, out, self.stderr

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)


def run(broker: BrokerProcess, user: str, key: Path, *remote: str, **kw: Any) -> Client:
    return Client(ssh_client_argv(broker.port, user, key, *remote, tty=False), **kw)


def test_unenrolled_key_signs_in_runs_and_is_enrolled(
    broker: BrokerProcess, oidc_provider: OidcProvider
) -> None:
    key = person_key(broker, "alice")
    client = run(broker, "alice", key, "run", "shell", "--", "echo hello from $0")
    url, code = client.prompt()
    assert url.startswith(oidc_provider.issuer)
    oidc_provider.complete_device_flow(url, code, "alice")
    status, out, err = client.finish()
    assert status == 0, err
    assert out.startswith(b"hello from")
    assert "█".encode() in err
    assert "▀".encode() in err
    records = audit_records(broker)
    kinds = [r["action"] for r in records if r["actor"] == "alice"]
    assert "login.idp" in kinds
    assert "login.key_enrolled" in kinds
    run_record = next(r for r in records if r["action"] == "command.run" and r["actor"] == "alice")
    assert run_record["details"]["idp_issuer"] == oidc_provider.issuer
    assert run_record["details"]["idp_subject"] == "alice"
    # the enrolled key skips the device flow next time
    again = run(broker, "alice", key, "run", "shell", "--", "echo again")
    status, out, err = again.finish(timeout=20)
    assert (status, out) == (0, b"again\n"), err
    assert b"code" not in err
    # listed, then revoked: the next login asks for a sign-in again
    listed = broker.cli("keys", "list")
    assert b"alice" in listed.stdout
    assert b"engineers" in listed.stdout
    assert broker.cli("keys", "revoke", "alice").returncode == 0
    assert b"alice" not in broker.cli("keys", "list").stdout
    revoked = run(broker, "alice", key, "run", "shell", "--", "echo no")
    revoked.prompt()
    revoked.kill()
    assert any(r["action"] == "login.key_revoked" for r in audit_records(broker))


def test_no_sign_in_no_access(broker: BrokerProcess, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    key = person_key(broker, "mallory")
    client = run(broker, "mallory", key, "run", "shell", "--", f"touch {marker}")
    client.prompt()
    client.kill()  # gives up without signing in
    deadline = time.monotonic() + 10
    while not any(r["details"].get("reason") == "cancelled" for r in audit_records(broker)):
        assert time.monotonic() < deadline, "the abandoned sign-in was not audited"
        time.sleep(0.05)
    assert not marker.exists()
    assert not any(
        r["action"] == "command.run" and r["actor"] == "mallory" for r in audit_records(broker)
    )


def test_denied_at_the_idp_is_one_line_and_audited(
    broker: BrokerProcess, oidc_provider: OidcProvider
) -> None:
    key = person_key(broker, "alice")
    client = run(broker, "alice", key, "run", "shell", "--", "echo no")
    url, code = client.prompt()
    oidc_provider.complete_device_flow(url, code, approve=False)
    status, out, err = client.finish()
    assert (status, out) == (1, b"")
    assert err.decode().splitlines()[-1] == (
        "gatehouse: sign-in failed: sign-in was denied at the identity provider"
    )
    assert any(
        r["action"] == "login.idp_failed" and r["details"]["reason"] == "access_denied"
        for r in audit_records(broker)
    )


def test_signing_in_as_another_person_is_refused(
    broker: BrokerProcess, oidc_provider: OidcProvider
) -> None:
    key = person_key(broker, "alice")
    client = run(broker, "alice", key, "run", "shell", "--", "echo no")
    url, code = client.prompt()
    oidc_provider.complete_device_flow(url, code, "bob")
    status, out, err = client.finish()
    assert (status, out) == (1, b"")
    assert b"signed in at the identity provider as 'bob', not as 'alice'" in err


def test_idp_groups_reach_policy(broker: BrokerProcess, oidc_provider: OidcProvider) -> None:
    key = person_key(broker, "carol")  # carol has no groups at the IdP
    client = run(broker, "carol", key, "run", "shell", "--", "echo no")
    url, code = client.prompt()
    oidc_provider.complete_device_flow(url, code, "carol")
    status, out, err = client.finish()
    assert status == 1
    assert out == b""
    assert b"denied" in err.lower() or b"not allowed" in err.lower()


def test_config_keys_still_work_without_the_idp(broker: BrokerProcess) -> None:
    result = broker.run_ssh("ops1", "run", "shell", "--", "echo yaml")
    assert (result.returncode, result.stdout) == (0, b"yaml\n"), result.stderr


def token_run(broker: BrokerProcess, user: str, token: str, *remote: str) -> Client:
    argv = ssh_client_argv(broker.port, user, person_key(broker, user), *remote, tty=False)
    argv[1:1] = ["-o", "SendEnv=GATEHOUSE_TOKEN"]
    return Client(argv, env={"GATEHOUSE_TOKEN": token})


def test_ci_token_runs_as_its_service(broker: BrokerProcess, oidc_provider: OidcProvider) -> None:
    token = oidc_provider.client_credentials().body["access_token"]
    status, out, err = token_run(broker, "ci", token, "run", "shell", "--", "echo ci; env").finish()
    assert status == 0, err
    assert out.startswith(b"ci\n")
    assert b"GATEHOUSE_TOKEN" not in out  # the token stops at the broker
    run_record = next(
        r for r in audit_records(broker) if r["action"] == "command.run" and r["actor"] == "ci"
    )
    assert run_record["details"]["idp_subject"] == "ci-deploy"
    assert token not in json.dumps(audit_records(broker))
    assert token not in broker.log()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("other-audience", "issued for another audience"),
        ("tampered", "signature does not verify"),
        ("not-run", "accepted for `run` and `sql` only"),
        ("other-user", "is for service 'ci', not 'root'"),
    ],
)
def test_ci_tokens_refused(
    broker: BrokerProcess, oidc_provider: OidcProvider, case: str, message: str
) -> None:
    token = oidc_provider.client_credentials().body["access_token"]
    user, remote = "ci", ["run", "shell", "--", "echo no"]
    if case == "other-audience":
        token = oidc_provider.client_credentials(resource="urn:other").body["access_token"]
    elif case == "tampered":
        token = token[:-6] + "AAAAAA"
    elif case == "not-run":
        remote = ["list"]
    elif case == "other-user":
        user = "root"
    status, out, err = token_run(broker, user, token, *remote).finish()
    assert (status, out) == (1, b"")
    assert message in err.decode()
    assert len(err.decode().strip().splitlines()) == 1


def test_idp_down_is_a_clear_error(tmp_path: Path) -> None:
    down = OidcProvider().start()
    down.stop()
    proc = BrokerProcess(
        {},
        {"shell": local_connection(["bash", "--norc"], accepts="shell")},
        POLICY,
        extra=oidc_config(down),
    )
    with proc:
        key = person_key(proc, "alice")
        began = time.monotonic()
        status, out, err = run(proc, "alice", key, "run", "shell", "--", "echo no").finish()
        assert (status, out) == (1, b"")
        assert err.decode().strip() == (
            f"gatehouse: sign-in failed: the identity provider ({down.issuer}) cannot be "
            "reached; try again later"
        )
        assert time.monotonic() - began < 15
        assert any(r["details"].get("reason") == "idp_unreachable" for r in audit_records(proc))


def test_role_groups_come_from_the_idp(
    broker: BrokerProcess, oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    asked = broker.run_ssh(
        "ops1", "run", "prod", "--no-wait", "--reason", "INC-1", "--", "echo approved-run"
    )
    request_id = asked.stdout.decode().strip()
    assert asked.returncode == 75, asked.stderr
    # carol has no IdP groups: not an approver
    carol = run(broker, "carol", person_key(broker, "carol"), "approve", request_id)
    url, code = carol.prompt()
    oidc_provider.complete_device_flow(url, code, "carol")
    status, _, err = carol.finish()
    assert status != 0
    # bob is in `approvers` at the IdP: his approval counts
    bob = run(broker, "bob", person_key(broker, "bob"), "approve", request_id)
    url, code = bob.prompt()
    oidc_provider.complete_device_flow(url, code, "bob")
    status, out, err = bob.finish()
    assert (status, out.decode().strip()) == (0, f"{request_id}: approved"), err
    done = broker.run_ssh("ops1", "run", "--request", request_id, "prod", "--", "echo approved-run")
    assert (done.returncode, done.stdout) == (0, b"approved-run\n"), done.stderr
    approved = next(r for r in audit_records(broker) if r["action"] == "approval.approved")
    assert (approved["actor"], approved["details"]["idp_subject"]) == ("bob", "bob")
    # the evidence tables carry the IdP identity of each record
    bundle = tmp_path / "evidence.zip"
    assert (
        broker.cli("evidence", "export", "--since", "2000-01-01", "-o", str(bundle)).returncode == 0
    )
    with zipfile.ZipFile(bundle) as archive:
        approvals = archive.read("tables/approvals.csv").decode()
        logins = archive.read("tables/logins.csv").decode()
    assert "details.idp_subject" in approvals.splitlines()[0]
    assert f",{oidc_provider.issuer}," in approvals
    assert "login.idp" in logins
    assert "login.idp_failed" in logins


def test_only_gatehouse_token_carries_a_token_and_no_client_env_reaches_a_target(
    broker: BrokerProcess, oidc_provider: OidcProvider
) -> None:
    token = oidc_provider.client_credentials().body["access_token"]
    sent = {"OTHER_TOKEN": token, "LD_PRELOAD": "/tmp/evil.so", "BASH_ENV": "/tmp/evil.sh"}
    send = ["-o", "SendEnv=OTHER_TOKEN LD_PRELOAD BASH_ENV"]
    argv = broker.ssh("ops1", "run", "shell", "--", "env")
    argv[1:1] = send
    done = subprocess.run(argv, capture_output=True, timeout=30, env={**os.environ, **sent})
    assert done.returncode == 0, done.stderr
    for name in sent:
        assert name.encode() not in done.stdout
    # a token under any other name is not a token: the service must sign in like a person
    argv = ssh_client_argv(
        broker.port, "ci", person_key(broker, "ci"), "run", "shell", "--", "id", tty=False
    )
    argv[1:1] = send
    client = Client(argv, env=sent)
    client.prompt()
    client.kill()
