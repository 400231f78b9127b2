"""Sign-in against the real oidc-provider: device flow driven over HTTP, and every refusal."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from broker.auditchain.events import Action
from broker.config.oidc import OidcSettings, ServiceIdentity
from broker.identity.device import DeviceGrant
from broker.identity.enrolment import EnrolmentStore
from broker.identity.errors import SignInError
from broker.identity.idp import IdentityProvider
from broker.identity.signin import MAX_PENDING_PER_SOURCE, SignIn
from broker.vault import Vault
from broker.vault.store import create_key
from tests.harness import OidcProvider, jwt_claims

SCOPES = ("openid", "profile", "groups", "offline_access")


async def fast(seconds: float) -> None:
    """Polls 50 ms apart (the RFC's 5 s interval is unit-tested on virtual time)."""
    await asyncio.sleep(min(seconds, 0.05))


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Action, dict[str, Any]]] = []

    async def __call__(self, actor: str, action: Action, target: str, details: Any) -> None:
        self.events.append((actor, action, dict(details)))

    def actions(self) -> list[Action]:
        return [action for _, action, _ in self.events]


def make_signin(
    idp: OidcProvider, tmp_path: Path, *, clock: Any = time.time, **settings: Any
) -> tuple[SignIn, Recorder]:
    create_key(tmp_path / "vault.key")
    oidc = OidcSettings(
        issuer=idp.issuer,
        client_id=idp.client_id,
        audience="urn:gatehouse",
        services={"ci-deploy": ServiceIdentity("ci", ("deployers",))},
        **settings,
    )
    events = Recorder()
    provider = IdentityProvider(
        idp.issuer, idp.client_id, timeout=5, clock=clock, jwks_refetch_floor=0
    )
    signin = SignIn(
        oidc,
        provider,
        EnrolmentStore(tmp_path),
        Vault(tmp_path / "vault", tmp_path / "vault.key"),
        events,
        clock=clock,
    )
    return signin, events


def browser(idp: OidcProvider, account: str, *, approve: bool = True) -> Any:
    """A ``show`` callback: the person completes the flow in their browser while we poll."""
    tasks: list[asyncio.Task[str]] = []

    def show(grant: DeviceGrant) -> None:
        tasks.append(
            asyncio.ensure_future(
                asyncio.to_thread(
                    idp.complete_device_flow,
                    grant.verification_uri,
                    grant.user_code,
                    account,
                    approve,
                )
            )
        )

    show.tasks = tasks  # type: ignore[attr-defined]
    return show


async def test_device_flow_signs_in_maps_groups_and_enrols(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    signin, events = make_signin(
        oidc_provider, tmp_path, group_map={"engineers": ("eng", "reviewers")}
    )
    show = browser(oidc_provider, "alice")
    identity = await signin.device_login("alice", "SHA256:alice", show, sleep=fast)
    await asyncio.gather(*show.tasks)
    assert (identity.issuer, identity.subject) == (oidc_provider.issuer, "alice")
    assert identity.idp_groups == ("engineers",)
    assert identity.groups == ("eng", "reviewers")
    assert events.actions() == [Action.IDP_LOGIN, Action.KEY_ENROLLED]
    assert events.events[0][2]["idp_subject"] == "alice"
    # next login with the same key: no device flow; the refresh token re-asks the IdP
    again = await signin.enrolled("alice", "SHA256:alice")
    assert again is not None
    assert again.groups == ("eng", "reviewers")
    assert events.events[-1][1] == Action.IDP_LOGIN
    assert events.events[-1][2]["method"] == "enrolled key"
    assert events.events[-1][2]["refreshed"] is True
    assert await signin.enrolled("alice", "SHA256:other") is None
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".secret":
            assert b"eyJ" not in path.read_bytes()  # no token in clear anywhere


async def test_an_enrolment_by_another_issuer_is_not_honoured(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    signin, _ = make_signin(oidc_provider, tmp_path, enrol_hours=12)
    show = browser(oidc_provider, "alice")
    await signin.device_login("alice", "SHA256:a", show, sleep=fast)
    await asyncio.gather(*show.tasks)
    moved = replace(signin.settings, issuer="https://idp.example.test")
    signin.settings = moved
    assert await signin.enrolled("alice", "SHA256:a") is None


async def test_enrolment_expires(oidc_provider: OidcProvider, tmp_path: Path) -> None:
    now = [time.time()]
    signin, _ = make_signin(oidc_provider, tmp_path, clock=lambda: now[0], enrol_hours=12)
    show = browser(oidc_provider, "alice")
    await signin.device_login("alice", "SHA256:a", show, sleep=fast)
    await asyncio.gather(*show.tasks)
    now[0] += 11 * 3600
    assert signin.enrolments.find("alice", "SHA256:a", now[0]) is not None
    now[0] += 2 * 3600
    assert await signin.enrolled("alice", "SHA256:a") is None


async def test_revoked_key_needs_the_device_flow_again(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    signin, events = make_signin(oidc_provider, tmp_path)
    show = browser(oidc_provider, "alice")
    await signin.device_login("alice", "SHA256:a", show, sleep=fast)
    await asyncio.gather(*show.tasks)
    gone = await signin.revoke("alice", actor="admin")
    assert len(gone) == 1
    assert not list((tmp_path / "vault").glob("*.secret"))
    assert await signin.enrolled("alice", "SHA256:a") is None
    assert events.actions()[-1] == Action.KEY_REVOKED


async def test_idp_no_longer_vouching_voids_the_enrolment(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    signin, events = make_signin(oidc_provider, tmp_path)
    show = browser(oidc_provider, "alice")
    await signin.device_login("alice", "SHA256:a", show, sleep=fast)
    await asyncio.gather(*show.tasks)
    record = signin.enrolments.all()[0]
    signin.vault.set(record.vault_name, b"a-refresh-token-the-idp-has-revoked")
    assert await signin.enrolled("alice", "SHA256:a") is None
    assert signin.enrolments.all() == []
    assert Action.IDP_LOGIN_FAILED in events.actions()


async def test_abort_at_the_idp_is_denied(oidc_provider: OidcProvider, tmp_path: Path) -> None:
    signin, events = make_signin(oidc_provider, tmp_path)
    show = browser(oidc_provider, "alice", approve=False)
    with pytest.raises(SignInError, match="denied") as caught:
        await signin.device_login("alice", "SHA256:a", show, sleep=fast)
    await asyncio.gather(*show.tasks)
    assert caught.value.reason == "access_denied"
    assert events.events[-1][1] == Action.IDP_LOGIN_FAILED
    assert events.events[-1][2]["reason"] == "access_denied"
    assert signin.enrolments.all() == []


async def test_signing_in_as_someone_else_is_refused(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    signin, _ = make_signin(oidc_provider, tmp_path)
    show = browser(oidc_provider, "bob")
    with pytest.raises(SignInError, match="as 'bob', not as 'alice'"):
        await signin.device_login("alice", "SHA256:a", show, sleep=fast)
    await asyncio.gather(*show.tasks)
    assert signin.enrolments.all() == []


async def id_token(idp: OidcProvider, account: str = "alice", client_id: str | None = None) -> str:
    grant = idp.start_device_authorization(client_id=client_id)
    idp.complete_device_flow(grant.verification_uri, grant.user_code, account)
    return str(idp.poll_device_token(grant.device_code, client_id=client_id).body["id_token"])


async def test_tokens_that_must_be_refused(oidc_provider: OidcProvider) -> None:
    idp = IdentityProvider(oidc_provider.issuer, "gatehouse", timeout=5)
    good = await id_token(oidc_provider)
    assert (await idp.verify(good, audience="gatehouse"))["sub"] == "alice"
    header, payload, signature = good.split(".")
    cases = {
        "bad_signature": f"{header}.{payload}.{signature[:-6]}AAAAAA",
        "wrong_audience": await id_token(
            oidc_provider, client_id=oidc_provider.confidential_client_id
        ),
    }
    for reason, token in cases.items():
        with pytest.raises(SignInError) as caught:
            await idp.verify(token, audience="gatehouse")
        assert caught.value.reason == reason
    for skew, reason in ((3600 * 2, "expired"), (-600, "not_yet_valid")):
        skewed = IdentityProvider(
            oidc_provider.issuer, "gatehouse", clock=lambda s=skew: time.time() + s
        )
        with pytest.raises(SignInError, match="clocks disagree") as caught:
            await skewed.verify(good, audience="gatehouse")
        assert caught.value.reason == reason
    tolerated = IdentityProvider(
        oidc_provider.issuer, "gatehouse", clock=lambda: time.time() - 30, leeway=60
    )
    assert (await tolerated.verify(good, audience="gatehouse"))["sub"] == "alice"


async def test_a_token_from_another_idp_is_refused(oidc_provider: OidcProvider) -> None:
    with OidcProvider() as other:
        foreign = await id_token(other)
    idp = IdentityProvider(oidc_provider.issuer, "gatehouse", timeout=5, jwks_refetch_floor=0)
    with pytest.raises(SignInError) as caught:
        await idp.verify(foreign, audience="gatehouse")
    assert caught.value.reason in ("unknown_key", "wrong_issuer")
    # the same IdP's keys but a different configured issuer: the issuer check refuses it
    lying = IdentityProvider(oidc_provider.issuer, "gatehouse")
    await lying.metadata()
    lying.issuer = "https://idp.example.test"
    with pytest.raises(SignInError) as caught:
        await lying.verify(await id_token(oidc_provider), audience="gatehouse")
    assert caught.value.reason == "wrong_issuer"


async def test_discovery_naming_another_issuer_is_refused(oidc_provider: OidcProvider) -> None:
    idp = IdentityProvider(oidc_provider.issuer + "/", "gatehouse", timeout=5)
    with pytest.raises(SignInError) as caught:
        await idp.metadata()
    assert caught.value.reason == "wrong_issuer"


async def test_key_rotation_is_followed() -> None:
    with OidcProvider() as rotating:
        idp = IdentityProvider(rotating.issuer, "gatehouse", timeout=5, jwks_refetch_floor=0)
        before = await id_token(rotating)
        assert (await idp.verify(before, audience="gatehouse"))["sub"] == "alice"
        rotating.rotate_keys()
        after = await id_token(rotating, "bob")
        assert (await idp.verify(after, audience="gatehouse"))["sub"] == "bob"
        with pytest.raises(SignInError) as caught:  # the retired key is no longer published
            await idp.verify(before, audience="gatehouse")
        assert caught.value.reason == "unknown_key"


async def test_unknown_kids_do_not_hammer_the_idp(oidc_provider: OidcProvider) -> None:
    idp = IdentityProvider(oidc_provider.issuer, "gatehouse", timeout=5, jwks_refetch_floor=60)
    fetches = 0
    real = idp._get

    async def counting(url: str) -> Any:
        nonlocal fetches
        fetches += url.endswith("jwks") or "jwks" in url
        return await real(url)

    idp._get = counting  # type: ignore[method-assign]
    with OidcProvider() as other:
        foreign = await id_token(other)
    for _ in range(5):
        with pytest.raises(SignInError):
            await idp.verify(foreign, audience="gatehouse")
    assert fetches == 1


async def test_idp_down_is_one_clear_line(tmp_path: Path) -> None:
    down = OidcProvider().start()
    issuer = down.issuer
    down.stop()
    idp = IdentityProvider(issuer, "gatehouse", timeout=2)
    began = time.monotonic()
    with pytest.raises(SignInError) as caught:
        await idp.start_device(("openid",))
    assert caught.value.reason == "idp_unreachable"
    assert str(caught.value) == (
        f"the identity provider ({issuer}) cannot be reached; try again later"
    )
    assert time.monotonic() - began < 3


async def test_service_token_maps_to_the_service_identity(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    signin, events = make_signin(oidc_provider, tmp_path)
    token = oidc_provider.client_credentials().body["access_token"]
    identity = await signin.token_login("ci", token)
    assert (identity.name, identity.groups, identity.kind) == ("ci", ("deployers",), "service")
    assert identity.subject == "ci-deploy"
    other = oidc_provider.client_credentials(resource="urn:other").body["access_token"]
    refused = {
        "wrong_audience": ("ci", other),
        "wrong_user": ("root", token),
        "malformed_token": ("ci", "not-a-token"),
        "bad_signature": ("ci", token[:-6] + "AAAAAA"),
    }
    for reason, (user, presented) in refused.items():
        with pytest.raises(SignInError) as caught:
            await signin.token_login(user, presented)
        assert caught.value.reason == reason
    # a person's ID token is not a service token
    with pytest.raises(SignInError) as caught:
        await signin.token_login("ci", await id_token(oidc_provider))
    assert caught.value.reason == "wrong_audience"
    assert events.actions().count(Action.IDP_LOGIN_FAILED) == 5


async def test_waiting_sign_ins_are_capped_per_source(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    signin, events = make_signin(oidc_provider, tmp_path)
    shown: list[DeviceGrant] = []
    forever = asyncio.Event()

    async def never(seconds: float) -> None:
        await forever.wait()

    waiting = [
        asyncio.ensure_future(
            signin.device_login("alice", f"SHA256:{i}", shown.append, never, source="10.0.0.9")
        )
        for i in range(MAX_PENDING_PER_SOURCE)
    ]
    try:
        for _ in range(200):
            if len(shown) == MAX_PENDING_PER_SOURCE:
                break
            await asyncio.sleep(0.02)
        assert len(shown) == MAX_PENDING_PER_SOURCE
        with pytest.raises(SignInError) as caught:
            await signin.device_login("alice", "SHA256:x", shown.append, never, source="10.0.0.9")
        assert caught.value.reason == "too_many_sign_ins"
        other = asyncio.ensure_future(
            signin.device_login("bob", "SHA256:b", shown.append, never, source="10.0.0.10")
        )
        waiting.append(other)
        for _ in range(200):
            if len(shown) == MAX_PENDING_PER_SOURCE + 1:
                break
            await asyncio.sleep(0.02)
        assert len(shown) == MAX_PENDING_PER_SOURCE + 1  # another address is not held up
    finally:
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
    assert signin._pending == {}
    assert events.events[-1][2]["reason"] == "too_many_sign_ins"


async def test_an_unused_code_ends_at_its_expiry(tmp_path: Path) -> None:
    with OidcProvider(device_ttl=2) as short:
        signin, events = make_signin(short, tmp_path)
        shown: list[DeviceGrant] = []
        began = time.monotonic()
        with pytest.raises(SignInError) as caught:
            await signin.device_login("alice", "SHA256:a", shown.append, fast)
        waited = time.monotonic() - began
    assert caught.value.reason == "expired_token"
    assert str(caught.value) == (
        "the sign-in code expired before it was used; connect again for a new one"
    )
    assert shown[0].expires_at - began <= 2.5
    assert waited < 4  # not a moment past the code's life
    assert events.events[-1][2]["reason"] == "expired_token"


async def test_name_and_groups_from_userinfo_when_the_id_token_lacks_them(tmp_path: Path) -> None:
    """A strictly conforming IdP puts profile and groups claims at userinfo, not in the ID token."""
    with OidcProvider(conform=True) as conforming:
        bare = jwt_claims(await id_token(conforming))
        assert "preferred_username" not in bare  # the case this is about
        assert "groups" not in bare
        signin, events = make_signin(conforming, tmp_path, scopes=SCOPES)
        show = browser(conforming, "bob")
        identity = await signin.device_login("bob", "SHA256:bob", show, sleep=fast)
        await asyncio.gather(*show.tasks)
        assert identity.name == "bob"
        assert identity.idp_groups == ("approvers", "reviewers", "auditors")
        again = await signin.enrolled("bob", "SHA256:bob")  # the refresh path asks userinfo too
        assert again is not None
        assert again.groups == ("approvers", "reviewers", "auditors")
        assert events.events[-1][2]["refreshed"] is True


async def test_userinfo_about_someone_else_is_refused(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    signin, _ = make_signin(oidc_provider, tmp_path)
    claims = {"sub": "alice", "iss": oidc_provider.issuer}

    async def verify(token: object, **_: Any) -> dict[str, Any]:
        return dict(claims)

    async def userinfo(access_token: str) -> dict[str, Any]:
        return {"sub": "mallory", "preferred_username": "alice", "groups": ["admins"]}

    signin.idp.verify = verify  # type: ignore[method-assign]
    signin.idp.userinfo = userinfo  # type: ignore[method-assign]
    with pytest.raises(SignInError) as caught:
        await signin._person_claims({"id_token": "x", "access_token": "y"})
    assert caught.value.reason == "userinfo_subject"
