"""The broker's event loop: refuses the eager task factory that Textual would install on it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


class BrokerEventLoop(asyncio.SelectorEventLoop):
    """A selector loop shared by every session.

    Textual's ``App.run_async`` sets ``asyncio.eager_task_factory`` on the running
    loop (Python ≥ 3.12); on a loop shared with asyncssh, new SSH connections then
    hang in authentication. This loop keeps its task factory fixed.
    """

    def set_task_factory(self, factory: Any) -> None:
        eager = getattr(asyncio, "eager_task_factory", None)
        if factory is not None and factory is eager:
            log.debug("refused eager task factory on the broker loop")
            return
        super().set_task_factory(factory)
