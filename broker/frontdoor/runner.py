"""The SessionRunner seam: how an interactive SSH session gets its user interface."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from broker.services import Services
    from broker.session.terminal import Terminal

DEFAULT_RUNNER = "tui.runner:InProcessRunner"


class SessionRunner(Protocol):
    """Runs the interface for one interactive session until the user leaves."""

    async def run(self, channel: Terminal, services: Services) -> None: ...


def load_runner(spec: str = DEFAULT_RUNNER) -> SessionRunner:
    """Instantiate the runner named ``module:Class``.

    Loaded by name so that `broker` never imports the interface package itself.
    """
    module_name, _, attr = spec.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    runner: SessionRunner = factory()
    return runner
