"""Builds the broker's SignIn from the config (the one place that wires the IdP's edges)."""

from __future__ import annotations

from broker.config.model import Config
from broker.identity.enrolment import EnrolmentStore
from broker.identity.idp import IdentityProvider
from broker.identity.signin import Emit, SignIn
from broker.vault import Vault


def sign_in_from(config: Config, vault: Vault, emit: Emit) -> SignIn | None:
    """The SignIn for ``config.oidc`` (None when the config has no `oidc` section)."""
    settings = config.oidc
    if settings is None:
        return None
    idp = IdentityProvider(
        settings.issuer,
        settings.client_id,
        timeout=settings.timeout_seconds,
        leeway=settings.leeway_seconds,
    )
    return SignIn(settings, idp, EnrolmentStore(config.state_dir), vault, emit)
