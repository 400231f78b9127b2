"""Composition root of the running broker: state, services, front door, watchdog, signals."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Mapping
from typing import Any

from broker.config import Config
from broker.policy.loader import PolicySet
from broker.server.loop import BrokerEventLoop
from broker.server.runner import load_runner
from broker.server.ssh_server import FrontDoor
from broker.server.watchdog import LoopWatchdog
from broker.services import EventSink, LogEvents, Services
from broker.state import StatePaths, ensure_keys

log = logging.getLogger(__name__)


def make_events(config: Config) -> EventSink:
    """The event sink for this broker (the audit log once configured)."""
    return LogEvents()


def record_cli_event(
    config: Config, actor: str, action: str, target: str, details: Mapping[str, Any]
) -> None:
    """Record an event from a CLI command (e.g. `secret set`)."""
    sink = make_events(config)
    asyncio.run(sink.emit(actor, action, target, details))


def build_services(config: Config, policies: PolicySet) -> tuple[Services, StatePaths]:
    """Everything a session needs, from config."""
    paths = StatePaths(config.state_dir)
    ensure_keys(paths)
    services = Services(config, policies, paths.vault(), make_events(config))
    return services, paths


async def run_broker(
    config: Config,
    policies: PolicySet,
    *,
    port: int | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Run until SIGINT/SIGTERM (or cancellation)."""
    services, paths = build_services(config, policies)
    front = FrontDoor(config, services, load_runner(), paths.host_key)
    bound = await front.start(port=port)
    watchdog = LoopWatchdog()
    watchdog.start()
    await services.events.emit("gatehouse", "broker.start", "gatehouse", {"port": bound})
    print(f"gatehouse: listening on {config.listen_host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await front.close()
        await watchdog.stop()


def serve(config: Config, policies: PolicySet, *, port: int | None = None) -> int:
    """Run the broker on its own loop; returns the process exit status."""
    with asyncio.Runner(loop_factory=BrokerEventLoop) as runner:
        try:
            runner.run(run_broker(config, policies, port=port))
        except OSError as exc:
            print(
                f"gatehouse: cannot listen on {config.listen_host}: {exc.strerror}", file=sys.stderr
            )
            return 1
    return 0
