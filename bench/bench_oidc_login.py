"""What signing in with the IdP costs per `run`: a config key, an enrolled key, a CI token.

Usage: .venv/bin/python bench/bench_oidc_login.py [--quick] [--runs N]

One broker with `oidc` pointing at the test oidc-provider and a `local` connection. First one
device flow (the browser steps played over HTTP) enrols a key; then `ssh … run shell -- true`
is timed N times each with a key from the config (the baseline), with the enrolled key (the
broker re-asks the IdP with the kept refresh token at every login) and with GATEHOUSE_TOKEN
(a client-credentials access token verified against the IdP's cached key set).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time

from _common import ROOT  # noqa: F401  (puts the repository on sys.path)

from tests.harness import OidcProvider
from tests.harness.accounts import local_connection
from tests.harness.ssh_client import ssh_client_argv
from tests.integration.test_oidc_ssh import POLICY, Client, oidc_config
from tests.support.broker import BrokerProcess, keygen


def timed(argv: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    """Median wall time in ms of ``argv`` (each must exit 0)."""
    took = []
    for _ in range(runs):
        began = time.monotonic()
        done = subprocess.run(argv, capture_output=True, env={**os.environ, **(env or {})})
        took.append(time.monotonic() - began)
        assert done.returncode == 0, done.stderr
    return statistics.median(took) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs each")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    shell = {"shell": local_connection(["bash", "--norc"], accepts="shell")}
    with OidcProvider() as idp:
        broker = BrokerProcess({"ops1": ["engineers"]}, shell, POLICY, extra=oidc_config(idp))
        with broker:
            key = broker.dir / "alice_ed25519"
            keygen(key, "alice")
            person = ssh_client_argv(
                broker.port, "alice", key, "run", "shell", "--", "true", tty=False
            )
            client = Client(person)
            began = time.monotonic()
            url, code = client.prompt()
            prompt_ms = (time.monotonic() - began) * 1000
            began = time.monotonic()
            idp.complete_device_flow(url, code, "alice")
            status, _, err = client.finish()
            assert status == 0, err
            flow_s = time.monotonic() - began
            token = idp.client_credentials().body["access_token"]
            ci = ssh_client_argv(broker.port, "ci", key, "run", "shell", "--", "true", tty=False)
            ci[1:1] = ["-o", "SendEnv=GATEHOUSE_TOKEN"]
            base = timed(broker.ssh("ops1", "run", "shell", "--", "true"), runs)
            rows = [
                ("config key (baseline)", base),
                ("enrolled key, refresh at the IdP", timed(person, runs)),
                ("GATEHOUSE_TOKEN", timed(ci, runs, {"GATEHOUSE_TOKEN": token})),
            ]
    print(f"device flow: prompt on stderr {prompt_ms:.0f} ms after ssh started; the command")
    print(f"ran {flow_s:.2f} s after the browser steps began (the IdP's poll interval is 5 s)")
    print(f"\n`ssh … run shell -- true`, median of {runs}")
    print(f"{'login':36} {'ms':>6} {'ratio':>6}")
    for name, ms in rows:
        print(f"{name:36} {ms:6.0f} {ms / base:6.2f}")


if __name__ == "__main__":
    main()
