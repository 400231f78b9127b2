"""In-process SessionRunner: one Textual App per SSH channel, on the broker's own loop."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from tui.driver import ChannelDriver
from tui.input_guard import InputBudget
from tui.patches import apply_textual_patches

if TYPE_CHECKING:
    from broker.services import Services
    from broker.session.terminal import Terminal

log = logging.getLogger(__name__)


class InProcessRunner:
    """Runs :class:`tui.app.GatehouseApp` in the broker's loop (≈1 MB per session).

    A runner that starts the TUI in a pty subprocess (crash and CPU isolation,
    ~24 MB per session) can be added behind the same seam.
    """

    def __init__(self) -> None:
        apply_textual_patches()
        self._budgets: dict[str, tuple[InputBudget, int]] = {}
        """User name → the input budget their TUI sessions share, and how many use it
        (each session also has its own, within it)."""

    async def run(self, channel: Terminal, services: Services) -> None:
        from tui.app import GatehouseApp

        user = channel.principal.name
        shared, users = self._budgets.get(user) or (InputBudget.for_user(), 0)
        self._budgets[user] = (shared, users + 1)
        budget = InputBudget(user=shared)
        app = GatehouseApp(
            services,
            channel,
            driver_class=functools.partial(ChannelDriver, channel=channel, budget=budget),
        )
        try:
            await app.run_async(size=(channel.cols, channel.rows))
        finally:
            channel.set_consumer(None)
            shared, users = self._budgets[user]
            if users > 1:
                self._budgets[user] = (shared, users - 1)
            else:
                del self._budgets[user]
