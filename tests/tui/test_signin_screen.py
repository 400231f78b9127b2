"""The device-flow screen under Pilot: URL, code, QR, live status, failure and retry, cancel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from textual.widgets import Static

from broker.identity.device import DeviceGrant
from broker.identity.errors import SignInError
from broker.identity.principal import PENDING_NAME
from broker.session.terminal import Principal
from tests.tui.fakes import FakeChannel, FakeServices
from tui.app import GatehouseApp
from tui.screens.connections import ConnectionsScreen
from tui.screens.recordings import RecordingsScreen
from tui.screens.signin import SignInScreen

URI = "https://idp.example.test/device"
PENDING = Principal(PENDING_NAME, (), pending_user="alice", key_fingerprint="SHA256:k")


class SigningServices(FakeServices):
    """``sign_in`` shows a grant, then waits for the test to say how the IdP answered."""

    def __init__(self) -> None:
        super().__init__()
        self.answer: asyncio.Future[Principal] | None = None
        self.calls = 0
        self.cancelled = 0

    async def sign_in(self, terminal: Any, show: Callable[[DeviceGrant], None]) -> Principal:
        self.calls += 1
        show(
            DeviceGrant(
                "dc", f"BCDF-GHJ{self.calls}", URI, f"{URI}?user_code=X", time.monotonic() + 600, 5
            )
        )
        self.answer = asyncio.get_running_loop().create_future()
        try:
            principal = await self.answer
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        terminal.principal = principal
        return principal


def text(app: GatehouseApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def shown(pilot: Any, services: SigningServices) -> None:
    for _ in range(100):
        await pilot.pause()
        if services.answer is not None and not services.answer.done():
            return
    raise AssertionError("the sign-in never showed a code")


async def test_code_url_and_qr_then_the_picker() -> None:
    services = SigningServices()
    channel = FakeChannel(principal=PENDING)
    app = GatehouseApp(services, channel)  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(pilot, services)
        assert isinstance(app.screen, SignInScreen)
        where = text(app, "#signin-where")
        assert URI in where
        assert "BCDF-GHJ1" in where
        qr = text(app, "#signin-qr")
        assert "█" in qr
        assert "▀" in qr
        assert len(qr.splitlines()) > 10
        assert "waiting for you to sign in" in text(app, "#signin-status")
        await pilot.press("r")  # no pane opens before the IdP vouched
        await pilot.pause()
        assert isinstance(app.screen, SignInScreen)
        assert services.answer is not None
        services.answer.set_result(
            replace(
                PENDING, name="alice", groups=("engineers",), pending_user="", idp_subject="alice"
            )
        )
        for _ in range(50):
            await pilot.pause()
            if isinstance(app.screen, ConnectionsScreen):
                break
        assert isinstance(app.screen, ConnectionsScreen)
        assert app.sub_title == "alice · engineers"
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, RecordingsScreen)


async def test_failure_is_one_line_and_enter_tries_again() -> None:
    services = SigningServices()
    app = GatehouseApp(services, FakeChannel(principal=PENDING))  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(pilot, services)
        assert services.answer is not None
        services.answer.set_exception(
            SignInError("access_denied", "sign-in was denied at the identity provider")
        )
        await pilot.pause()
        await pilot.pause()
        status = text(app, "#signin-status")
        assert status.startswith("sign-in failed: sign-in was denied at the identity provider")
        assert "\n" not in status.strip()
        await pilot.press("enter")
        await shown(pilot, services)
        assert "BCDF-GHJ2" in text(app, "#signin-where")
        assert isinstance(app.screen, SignInScreen)


async def test_escape_cancels_and_leaves() -> None:
    services = SigningServices()
    app = GatehouseApp(services, FakeChannel(principal=PENDING))  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(pilot, services)
        await pilot.press("escape")
        await pilot.pause()
    assert services.cancelled == 1
    assert app.return_code == 0 or app.return_code is None


async def test_a_signed_in_principal_never_sees_the_screen() -> None:
    services = SigningServices()
    app = GatehouseApp(services, FakeChannel())  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ConnectionsScreen)
        assert services.calls == 0
