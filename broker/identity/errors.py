"""The one error of identity: a sign-in refused, with a short reason for the audit record."""

from __future__ import annotations

from broker.common.errors import GatehouseError


class SignInError(GatehouseError):
    """A device flow, ID token or access token was refused.

    ``str(error)`` is the one line shown to the person; ``reason`` is a stable code for audit
    records and tests (``idp_unreachable``, ``access_denied``, ``expired_token``,
    ``wrong_audience``, ``wrong_issuer``, ``bad_signature``, ``expired``, ``not_yet_valid``, …).
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)
