"""Recordings written with the real writer, and review services over a temp store, for Pilot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App

from broker.common.errors import PolicyDenied
from broker.review.services import Viewing
from broker.session.terminal import Principal
from recordings.replay import Player
from recordings.store import RecordingInfo, RecordingStore, StoreMatch
from tests.support.casts import CASTS, write_session
from tests.tui.fakes import FakeServices, RoleCheck
from tui.screens.replay import ReplayScreen

__all__ = ["CASTS", "FakeReview", "FakeServicesWithReview", "PlayerApp", "write_session"]


class PlayerApp(App[None]):
    """Hosts one :class:`ReplayScreen`, as `gatehouse recordings play` does."""

    CSS_PATH = str(Path(__file__).parents[2] / "tui" / "app.tcss")

    def __init__(self, player: Player, **screen_args: Any) -> None:
        super().__init__()
        self.player = player
        self.screen_args = screen_args
        self.closed = 0

    def on_mount(self) -> None:
        self.push_screen(ReplayScreen(self.player, on_close=self._on_close, **self.screen_args))

    def _on_close(self) -> None:
        self.closed += 1


class FakeReview(RoleCheck):
    """``services.review`` over a real store, with the same visibility rule and a call log."""

    def __init__(self, store: RecordingStore) -> None:
        super().__init__()
        self.store = store
        self.calls: list[tuple[str, str]] = []
        self.closed: list[str] = []

    def _visible(self, principal: Principal, info: RecordingInfo) -> bool:
        meta = info.header.meta
        return self.is_reviewer(principal) or (meta is not None and meta.user == principal.name)

    async def list_recordings(self, principal: Principal) -> list[RecordingInfo]:
        self.calls.append(("list", principal.name))
        return [i for i in self.store.list() if self._visible(principal, i)]

    async def search_recordings(self, principal: Principal, text: str) -> list[StoreMatch]:
        self.calls.append(("search", text))
        ids = [i.session_id for i in await self.list_recordings(principal)]
        return self.store.search(text, session_ids=ids)

    async def open_recording(self, principal: Principal, session_id: str) -> Viewing:
        self.calls.append(("open", session_id))
        if session_id not in {i.session_id for i in await self.list_recordings(principal)}:
            raise PolicyDenied(f"no recording {session_id!r} that you may view", rule="reviewers")
        return Viewing(session_id, self.store.open(session_id), 0.0)

    async def close_recording(self, principal: Principal, viewing: Viewing) -> None:
        self.closed.append(viewing.session_id)


class FakeServicesWithReview(FakeServices):
    """The picker's fake services plus ``review``."""

    def __init__(self, store: RecordingStore) -> None:
        super().__init__()
        self.review = FakeReview(store)
