"""The `oidc` section: defaults, group_map and services read, every mistake named by file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.common.errors import ConfigError
from broker.config.model import load_config

BASE = "listen: 127.0.0.1:2222\nusers: {}\nconnections: {}\npolicies: []\n"


def load(tmp_path: Path, oidc: str) -> object:
    path = tmp_path / "gatehouse.yaml"
    path.write_text(BASE + oidc)
    return load_config(path).oidc


def test_without_oidc_there_is_none(tmp_path: Path) -> None:
    assert load(tmp_path, "") is None


def test_defaults_and_full_section(tmp_path: Path) -> None:
    minimal = load(tmp_path, "oidc: {issuer: 'https://idp.example.com', client_id: gh}\n")
    assert minimal is not None
    assert (minimal.groups_claim, minimal.username_claim) == ("groups", "preferred_username")
    assert (minimal.enrol_hours, minimal.audience, minimal.leeway_seconds) == (168, "", 60)
    assert minimal.scopes == ("openid", "profile", "groups", "offline_access")
    full = load(
        tmp_path,
        """\
oidc:
  issuer: https://idp.example.com/
  client_id: gh
  group_map: {platform: engineers, security: [auditors, reviewers]}
  enrol_hours: 0
  audience: urn:gatehouse
  services: {ci-deploy: {user: ci, groups: [deployers]}}
  scopes: [openid, groups]
  timeout_seconds: 3
  leeway_seconds: 5
""",
    )
    assert full is not None
    assert full.issuer == "https://idp.example.com/"  # kept exactly: `iss` must equal it
    assert full.group_map == {"platform": ("engineers",), "security": ("auditors", "reviewers")}
    assert full.services["ci-deploy"].name == "ci"
    assert full.services["ci-deploy"].groups == ("deployers",)
    assert (full.enrol_hours, full.timeout_seconds, full.leeway_seconds) == (0, 3, 5)


@pytest.mark.parametrize(
    ("oidc", "where"),
    [
        ("oidc: {client_id: gh}\n", "oidc.issuer: is required"),
        ("oidc: {issuer: 'http://idp.example.com', client_id: gh}\n", "must be an https:// URL"),
        (
            "oidc: {issuer: 'https://i', client_id: gh, grups_claim: x}\n",
            "oidc.grups_claim: unknown key",
        ),
        ("oidc: {issuer: 'https://i', client_id: gh, scopes: [groups]}\n", "must include openid"),
        ("oidc: {issuer: 'https://i', client_id: gh, enrol_hours: -1}\n", "oidc.enrol_hours"),
        ("oidc: {issuer: 'https://i', client_id: gh, group_map: {a: [1]}}\n", "oidc.group_map.a"),
        (
            "oidc: {issuer: 'https://i', client_id: gh, services: {ci: {groups: [x]}}}\n",
            "oidc.services.ci.user",
        ),
        (
            "oidc: {issuer: 'https://i', client_id: gh, services: {ci: {user: ci, role: x}}}\n",
            "oidc.services.ci.role",
        ),
    ],
)
def test_mistakes_are_named(tmp_path: Path, oidc: str, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, oidc)
    assert where in str(caught.value)
    assert "gatehouse.yaml:5" in str(caught.value)
