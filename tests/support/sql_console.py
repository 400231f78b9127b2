"""A real broker facade (config, policy, vault, masking, recorder) on a test PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from broker.config.load import load_all
from broker.config.state import StatePaths
from broker.masking.filter import load_engines
from broker.runtime.provision import ensure_keys
from broker.services import LogEvents, Services
from tests.harness import PostgresServer

POLICY = """\
access:
  - {name: all, groups: [engineers, dba], connections: ["*"], action: allow}
sql:
  - {name: no-drop, statements: [drop], action: deny}
  - {name: ddl-needs-approval, statements: [alter, truncate], action: approval}
masking:
  detectors: {enable: all, disable: [ipv4, ipv6]}
  columns: [{match: "(?i)^ssn$", strategy: redact}]
roles: {unmasked: [dba]}
"""


def console_services(
    state: Path, server: PostgresServer, policy: str = POLICY
) -> tuple[Services, LogEvents]:
    """Services with connections ``shop`` (writable) and ``shop-ro`` (read-only) on ``server``."""
    state.mkdir(parents=True, exist_ok=True)
    (state / "p.yaml").write_text(policy)
    conn = (
        f"{{type: postgres, host: {server.host}, port: {server.port}, user: {server.user}, "
        f"database: {server.database}, credential: shop"
    )
    (state / "gatehouse.yaml").write_text(
        "policies: [p.yaml]\n"
        f"connections:\n  shop: {conn}}}\n  shop-ro: {conn}, read_only: true}}\n"
    )
    config, policies = load_all(state / "gatehouse.yaml")
    paths = StatePaths(config.state_dir)
    ensure_keys(paths)
    vault = paths.vault()
    vault.set("shop", server.password.encode())
    events = LogEvents()
    engines = load_engines(policies, paths.masking_key)
    return Services(config, policies, vault, events, masking=engines), events
