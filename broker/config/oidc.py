"""The `oidc` section of gatehouse.yaml: sign-in with the organisation's identity provider."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from broker.common.yamlsrc import KeyPath, Reader


@dataclass(frozen=True)
class ServiceIdentity:
    """A CI job or agent known by the client id (``sub``) of its IdP access token."""

    name: str
    """The principal name it acts as (audit actor, policy user)."""
    groups: tuple[str, ...] = ()
    """Broker groups it is in."""


@dataclass(frozen=True)
class OidcSettings:
    """Optional OpenID Connect login (device flow for people, access tokens for CI)."""

    issuer: str
    """The IdP's issuer URL; its discovery document must name exactly this issuer."""
    client_id: str
    """The broker's (public) client at the IdP; ID tokens must name it as audience."""
    groups_claim: str = "groups"
    """The ID-token claim that lists the person's IdP groups."""
    username_claim: str = "preferred_username"
    """The claim that must equal the SSH login name."""
    group_map: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """IdP group → broker groups. Empty: IdP groups are used as broker groups unchanged."""
    scopes: tuple[str, ...] = ("openid", "profile", "groups", "offline_access")
    """Scopes asked for in the device flow."""
    enrol_hours: int = 168
    """How long a key stays bound after a device-flow login (0: sign in every time)."""
    audience: str = ""
    """Audience of access tokens sent as GATEHOUSE_TOKEN (empty: no tokens accepted)."""
    services: Mapping[str, ServiceIdentity] = field(default_factory=dict)
    """Client id (``sub`` of a client-credentials token) → the service identity it maps to."""
    timeout_seconds: int = 10
    """Bound on each HTTP request to the IdP."""
    leeway_seconds: int = 60
    """Clock skew tolerated on ``exp``, ``iat`` and ``nbf``."""


def parse_oidc(r: Reader) -> OidcSettings | None:
    """Read the optional `oidc` section (None when absent)."""
    if r.get(("oidc",)) is None:
        return None
    keys = ("issuer", "client_id", "groups_claim", "username_claim", "group_map", "scopes")
    r.only_keys(
        ("oidc",),
        (*keys, "enrol_hours", "audience", "services", "timeout_seconds", "leeway_seconds"),
    )
    issuer = r.string(("oidc", "issuer"), required=True)
    if not issuer.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise r.src.error(("oidc", "issuer"), "must be an https:// URL")
    group_map: dict[str, tuple[str, ...]] = {}
    for name, value in r.mapping(("oidc", "group_map")).items():
        path: KeyPath = ("oidc", "group_map", str(name))
        group_map[str(name)] = (value,) if isinstance(value, str) else r.strings(path)
    services: dict[str, ServiceIdentity] = {}
    for client in r.mapping(("oidc", "services")):
        path = ("oidc", "services", str(client))
        r.only_keys(path, ("user", "groups"))
        services[str(client)] = ServiceIdentity(
            name=r.string((*path, "user"), required=True), groups=r.strings((*path, "groups"))
        )
    scopes = r.strings(("oidc", "scopes")) or OidcSettings.scopes
    if "openid" not in scopes:
        raise r.src.error(("oidc", "scopes"), "must include openid")
    return OidcSettings(
        issuer=issuer,
        client_id=r.string(("oidc", "client_id"), required=True),
        groups_claim=r.string(("oidc", "groups_claim"), default="groups"),
        username_claim=r.string(("oidc", "username_claim"), default="preferred_username"),
        group_map=group_map,
        scopes=scopes,
        enrol_hours=r.integer(("oidc", "enrol_hours"), default=168, lo=0, hi=24 * 366),
        audience=r.string(("oidc", "audience"), default=""),
        services=services,
        timeout_seconds=r.integer(("oidc", "timeout_seconds"), default=10, lo=1, hi=120),
        leeway_seconds=r.integer(("oidc", "leeway_seconds"), default=60, lo=0, hi=600),
    )
