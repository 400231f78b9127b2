"""The device-flow screen under Pilot: URL, code, QR, live status, failure and retry, cancel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from textual.widgets import Static

from broker.identity.device import DeviceGrant
from broker.identity.errors import SignInError
from broker.identity.principal import PENDING_NAME
from broker.session.terminal import Principal
from tests.tui.fakes import FakeChannel, FakeServices
from tui.app import GatehouseApp
from tui.screens.connections import ConnectionsScreen
from tui.screens.recordings import RecordingsScreen
from tui.screens.signin import SignInScreen, fitting

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


@pytest.mark.parametrize(
    ("rows", "cols", "parts"),
    [
        (45, 160, {"qr", "title", "hint"}),
        (24, 80, {"qr", "title"}),  # the footer names Esc already
        (23, 80, {"qr"}),
        (22, 80, {"qr-note", "title", "hint"}),
        (7, 80, {"qr-note"}),
        (6, 80, set()),  # the URL, the code and the status: nothing else
        (3, 20, set()),
        (45, 38, {"qr-note", "title", "hint"}),  # too narrow for the code's 33 columns
    ],
)
def test_what_fits_the_terminal(rows: int, cols: int, parts: set[str]) -> None:
    assert fitting(rows, cols, 17, 33) == parts


def test_without_a_code_there_is_no_qr_note() -> None:
    assert fitting(24, 80, 0, 0) == {"title", "hint"}


def _on_screen(app: GatehouseApp, selector: str) -> bool:
    widget = app.screen.query_one(selector, Static)
    region = widget.region
    return widget.display and region.height > 0 and app.screen.region.contains_region(region)


async def test_at_80x24_everything_fits_without_scrolling_and_a_short_window_drops_the_qr() -> None:
    services = SigningServices()
    app = GatehouseApp(services, FakeChannel(principal=PENDING))  # type: ignore[arg-type]
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot, services)
        await pilot.pause()
        box = app.screen.query_one("#signin-box")
        assert box.region.bottom <= 23  # above the footer: nothing scrolls out of sight
        assert box.max_scroll_y == 0
        for part in ("#signin-where", "#signin-qr", "#signin-status"):
            assert _on_screen(app, part), part
        assert len(text(app, "#signin-qr").splitlines()) == 17
        await pilot.resize_terminal(80, 18)
        await pilot.pause()
        assert "shows a QR code" in text(app, "#signin-qr")
        assert "█" not in text(app, "#signin-qr")
        for part in ("#signin-where", "#signin-status"):
            assert _on_screen(app, part), part
        assert "BCDF-GHJ1" in text(app, "#signin-where")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert "█" in text(app, "#signin-qr")
