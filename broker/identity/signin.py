"""Sign-in decisions for the front door: enrolled key, device flow, or an access token for CI."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from broker.auditchain.events import Action
from broker.common.errors import VaultError
from broker.config.oidc import OidcSettings
from broker.identity.claims import Identity, claimed_name, groups_from, map_groups, with_userinfo
from broker.identity.device import DeviceGrant
from broker.identity.enrolment import Enrolment, EnrolmentStore, new_id
from broker.identity.errors import SignInError
from broker.identity.idp import IdentityProvider, Sleep
from broker.vault import Vault

Emit = Callable[[str, Action, str, Mapping[str, Any]], Awaitable[None]]
MAX_TOKEN_ENV = 16 * 1024
MAX_PENDING = 64
"""Device flows waiting at once, broker-wide: each polls the IdP until its code expires."""
MAX_PENDING_PER_SOURCE = 4
"""Device flows waiting at once from one client address (any key gets this far)."""


class SignIn:
    """Establishes who is behind an SSH key the config does not list, via the IdP."""

    def __init__(
        self,
        settings: OidcSettings,
        idp: IdentityProvider,
        enrolments: EnrolmentStore,
        vault: Vault,
        emit: Emit,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.idp = idp
        self.enrolments = enrolments
        self.vault = vault
        self.emit = emit
        self.clock = clock
        self._pending: dict[str, int] = {}

    def _identity(self, claims: Mapping[str, Any], name: str, kind: str = "person") -> Identity:
        idp_groups = groups_from(claims, self.settings.groups_claim)
        return Identity(
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            name=name,
            groups=map_groups(idp_groups, self.settings.group_map),
            idp_groups=idp_groups,
            kind=kind,
        )

    async def _person_claims(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The verified ID token's claims; the name and groups claims it lacks, from userinfo.

        Raises:
            SignInError: the ID token is refused, or userinfo is about someone else.
        """
        claims = await self.idp.verify(body.get("id_token"), audience=self.settings.client_id)
        wanted = (self.settings.username_claim, self.settings.groups_claim)
        missing = tuple(name for name in wanted if name not in claims)
        access_token = body.get("access_token")
        if missing and isinstance(access_token, str) and await self.idp.has_userinfo():
            claims = with_userinfo(claims, await self.idp.userinfo(access_token), missing)
        return claims

    async def _refused(self, user: str, exc: SignInError, **details: str) -> SignInError:
        await self.emit(
            user,
            Action.IDP_LOGIN_FAILED,
            "gatehouse",
            {"reason": exc.reason, "message": str(exc), **details},
        )
        return exc

    async def enrolled(self, user: str, fingerprint: str) -> Identity | None:
        """The identity a live enrolment of this key vouches for; ``None``: sign in first.

        Where a refresh token is kept, the IdP is asked again; its ``invalid_grant`` voids the
        enrolment (``None``), an unreachable IdP refuses (fail closed).

        Raises:
            SignInError: the IdP could not be asked.
        """
        record = self.enrolments.find(user, fingerprint, self.clock())
        if record is None or record.issuer != self.settings.issuer:
            return None  # none, or vouched for by an IdP this broker no longer trusts
        identity = Identity(record.issuer, record.subject, user, record.groups)
        if not record.refreshable:
            return await self._vouched(identity, record, fingerprint)
        try:
            refresh_token = self.vault.get(record.vault_name).reveal().decode()
        except VaultError:
            return None  # the refresh token is gone: sign in again
        try:
            body = await self.idp.refresh(refresh_token)
            claims = await self._person_claims(body)
        except SignInError as exc:
            if exc.reason in ("idp_revoked", "wrong_issuer", "bad_signature"):
                await self.revoke(record.id, actor=user, reason=exc.reason)
                await self._refused(user, exc, key_fingerprint=fingerprint)
                return None
            raise await self._refused(user, exc, key_fingerprint=fingerprint) from None
        if claims["sub"] != record.subject:
            await self.revoke(record.id, actor=user, reason="subject_changed")
            return None
        identity = self._identity(claims, user)
        if isinstance(body.get("refresh_token"), str):
            self.vault.set(record.vault_name, body["refresh_token"].encode())
        self.enrolments.put(replace(record, groups=identity.groups))
        return await self._vouched(identity, record, fingerprint, refreshed=True)

    async def _vouched(
        self, identity: Identity, record: Enrolment, fingerprint: str, *, refreshed: bool = False
    ) -> Identity:
        details = {
            **identity.audit_details(),
            "method": "enrolled key",
            "enrolment": record.id,
            "key_fingerprint": fingerprint,
            "refreshed": refreshed,
            "groups": list(identity.groups),
        }
        await self.emit(identity.name, Action.IDP_LOGIN, "gatehouse", details)
        return identity

    async def device_login(
        self,
        user: str,
        fingerprint: str,
        show: Callable[[DeviceGrant], Awaitable[None] | None],
        sleep: Sleep | None = None,
        *,
        source: str = "",
    ) -> Identity:
        """Run the device flow for ``user`` and (per ``enrol_hours``) bind ``fingerprint``.

        Args:
            user: The SSH login name; the IdP's ``username_claim`` must equal it.
            fingerprint: The key presented.
            show: Told the grant once (URL, user code, QR) before polling starts.
            sleep: Injected wait between polls (tests); ``asyncio.sleep`` by default.
            source: The client's address; only so many flows may wait per address.

        Raises:
            SignInError: every failure, already audited.
        """
        if (
            sum(self._pending.values()) >= MAX_PENDING
            or self._pending.get(source, 0) >= MAX_PENDING_PER_SOURCE
        ):
            error = SignInError(
                "too_many_sign_ins", "too many sign-ins are waiting; try again in a few minutes"
            )
            raise await self._refused(user, error, key_fingerprint=fingerprint) from None
        self._pending[source] = self._pending.get(source, 0) + 1
        try:
            return await self._device_login(user, fingerprint, show, sleep)
        finally:
            self._pending[source] -= 1
            if not self._pending[source]:
                del self._pending[source]

    async def _device_login(
        self,
        user: str,
        fingerprint: str,
        show: Callable[[DeviceGrant], Awaitable[None] | None],
        sleep: Sleep | None,
    ) -> Identity:
        try:
            grant = await self.idp.start_device(self.settings.scopes)
            shown = show(grant)
            if shown is not None:
                await shown
            body = await (
                self.idp.poll_device(grant) if sleep is None else self.idp.poll_device(grant, sleep)
            )
            claims = await self._person_claims(body)
            name = claimed_name(claims, self.settings.username_claim)
            if name != user:
                raise SignInError(
                    "wrong_user",
                    f"you signed in at the identity provider as {name or 'someone else'!r}, "
                    f"not as {user!r}",
                )
        except SignInError as exc:
            raise await self._refused(user, exc, key_fingerprint=fingerprint) from None
        identity = self._identity(claims, user)
        await self.emit(
            user,
            Action.IDP_LOGIN,
            "gatehouse",
            {
                **identity.audit_details(),
                "method": "device",
                "key_fingerprint": fingerprint,
                "idp_groups": list(identity.idp_groups),
                "groups": list(identity.groups),
            },
        )
        if self.settings.enrol_hours > 0:
            await self._enrol(identity, fingerprint, body.get("refresh_token"))
        return identity

    async def _enrol(self, identity: Identity, fingerprint: str, refresh_token: object) -> None:
        now = self.clock()
        record = Enrolment(
            id=new_id(),
            user=identity.name,
            fingerprint=fingerprint,
            issuer=identity.issuer,
            subject=identity.subject,
            groups=identity.groups,
            enrolled_at=now,
            expires_at=now + self.settings.enrol_hours * 3600,
            refreshable=isinstance(refresh_token, str) and bool(refresh_token),
        )
        if isinstance(refresh_token, str) and refresh_token:
            self.vault.set(record.vault_name, refresh_token.encode())
        for old in self.enrolments.put(record):
            self._forget_refresh(old)
        await self.emit(
            identity.name,
            Action.KEY_ENROLLED,
            "gatehouse",
            {
                **identity.audit_details(),
                "key_fingerprint": fingerprint,
                "enrolment": record.id,
                "expires_at": int(record.expires_at),
            },
        )

    def _forget_refresh(self, record: Enrolment) -> None:
        path = self.vault.directory / f"{record.vault_name}.secret"
        path.unlink(missing_ok=True)

    async def revoke(self, key: str, *, actor: str, reason: str = "revoked") -> list[Enrolment]:
        """Remove enrolments by id, user or fingerprint (and their refresh tokens); audited."""
        gone = self.enrolments.remove(key)
        for record in gone:
            self._forget_refresh(record)
            await self.emit(
                actor,
                Action.KEY_REVOKED,
                "gatehouse",
                {
                    "idp_issuer": record.issuer,
                    "idp_subject": record.subject,
                    "user": record.user,
                    "key_fingerprint": record.fingerprint,
                    "enrolment": record.id,
                    "reason": reason,
                },
            )
        return gone

    async def token_login(self, user: str, token: str) -> Identity:
        """A CI job's access token (GATEHOUSE_TOKEN) → the service identity it is configured as.

        Raises:
            SignInError: tokens not accepted, token refused, or no service for its client.
        """
        try:
            if not self.settings.audience:
                raise SignInError(
                    "tokens_disabled",
                    "this broker accepts no GATEHOUSE_TOKEN (oidc.audience unset)",
                )
            if len(token) > MAX_TOKEN_ENV:
                raise SignInError("malformed_token", "GATEHOUSE_TOKEN is too long")
            claims = await self.idp.verify(token, audience=self.settings.audience)
            client = claims.get("client_id", claims["sub"])
            service = self.settings.services.get(str(claims["sub"]))
            if service is None or client != claims["sub"]:
                raise SignInError(
                    "unknown_service", "the token's client is not a configured service"
                )
            if service.name != user:
                raise SignInError(
                    "wrong_user", f"the token is for service {service.name!r}, not {user!r}"
                )
        except SignInError as exc:
            raise await self._refused(user, exc, method="token") from None
        identity = Identity(
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            name=service.name,
            groups=service.groups,
            kind="service",
        )
        await self.emit(
            user, Action.IDP_LOGIN, "gatehouse", {**identity.audit_details(), "method": "token"}
        )
        return identity
