"""Composition root of the running broker: state, services, front door, watchdog, signals."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import sys

from broker.auditlog.events import AuditEvents
from broker.common.descriptors import RESERVED, raise_nofile_limit
from broker.common.errors import GatehouseError
from broker.config.model import Config
from broker.config.state import StatePaths
from broker.frontdoor.listener import bind_sockets
from broker.frontdoor.runner import load_runner
from broker.frontdoor.ssh_server import FrontDoor
from broker.masking.filter import load_engine
from broker.masking.lines import line_masker, mask_logs
from broker.patches import asyncssh_aead as fastpath
from broker.policy.loader import PolicySet
from broker.recording.retention import retention_loop
from broker.runtime.gcpolicy import SessionCollector, full_collections, settle_startup
from broker.runtime.loop import BrokerEventLoop
from broker.runtime.provision import ensure_keys, secure_state
from broker.runtime.watchdog import LoopWatchdog
from broker.services import Services

log = logging.getLogger(__name__)


async def build_services(
    config: Config, policies: PolicySet, *, worker: int | None = None
) -> tuple[Services, StatePaths, AuditEvents]:
    """Everything a session needs, from config, and the audit log it opened and verified (the
    services see it through the masking of claimed names)."""
    paths = StatePaths(config.state_dir)
    ensure_keys(paths)
    for path in secure_state(paths):
        log.warning("state: %s was readable by other accounts; now owner-only", path)
    for conn in config.connections.values():
        if conn.local.unsafe_run_as_broker_user:
            log.warning(
                "UNSAFE: local connection %s runs as the broker's own account: whoever may "
                "open it can read the vault, audit signing and masking keys "
                "(unsafe_run_as_broker_user; for a demo on your own machine only)",
                conn.name,
            )
    events = await AuditEvents.open(config, worker=worker)
    engine = load_engine(policies, paths.masking_key)
    mask_logs(line_masker(engine.strictest, stream="log"))
    services = Services(config, policies, paths.vault(), events, masking=engine)
    services.review.subscribe = events.audit.add_listener
    await services.recorders.start()
    return services, paths, events


class ListenError(GatehouseError):
    """The broker's address cannot be bound (in use, not local, no permission)."""


class StartupError(GatehouseError):
    """Something the broker needs failed before it served (e.g. an unreadable host key)."""


def listen(config: Config, port: int | None, worker: int | None) -> list[socket.socket]:
    """Bind the listening sockets; ``SO_REUSEPORT`` only for ``--workers`` siblings.

    Raises:
        ListenError: naming the address and why.
    """
    host = config.listen_host
    port = config.listen_port if port is None else port
    try:
        return bind_sockets(host, port, reuse_port=worker is not None)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason = "address in use (another broker, or another program, listens there)"
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None


async def run_broker(
    config: Config,
    policies: PolicySet,
    *,
    port: int | None = None,
    ready: asyncio.Event | None = None,
    worker: int | None = None,
) -> None:
    """Run until SIGINT/SIGTERM (or cancellation); ``worker``: one of several on the port.

    Raises:
        ListenError: the address cannot be bound (before anything else is opened).
    """
    sockets = listen(config, port, worker)
    try:
        services, paths, events = await build_services(config, policies, worker=worker)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    watchdog = LoopWatchdog()
    front: FrontDoor | None = None
    try:
        front = FrontDoor(
            config,
            services,
            load_runner(),
            paths.host_key,
            on_session_closed=SessionCollector(expect_stall=watchdog.expected).session_closed,
        )
        if config.store != "sqlite" and worker in (None, 0):
            log.warning(
                "store: postgres is not implemented yet; approval requests and grants are kept in "
                "%s/approvals.sqlite3, shared by this host's --workers only, not by other hosts",
                config.state_dir,
            )
        try:  # requests that expired while the broker was down are closed before anyone connects
            await services.approvals.sweep(force=True)
        except Exception:
            log.exception("approvals: the startup sweep failed (the running sweep retries)")
        bound = await front.start(sockets)
        watchdog.start()
        with watchdog.expected("startup: masking databases, garbage collection"):
            if services.masking is not None:
                services.masking.warm()
            settle_startup()
        who = "" if worker is None else f"worker {worker} "
        print(f"gatehouse: {who}listening on {config.listen_host}:{bound}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if ready is not None:
            ready.set()
    except BaseException as exc:  # a failure before serving: stop what started, say why
        if isinstance(exc, Exception):
            log.exception("the broker could not start")
        if front is not None:
            await front.close()
        for sock in sockets:
            sock.close()
        await watchdog.stop()
        await services.recorders.stop()
        await events.close()
        if isinstance(exc, Exception):
            raise StartupError(f"the broker could not start: {exc}") from exc
        raise
    # one sweeper per state dir: with several workers, worker 0 sweeps
    retention = asyncio.ensure_future(
        retention_loop(services.review.store, config.recording.retention_days, services.events.emit)
        if worker in (None, 0)
        else asyncio.Event().wait()
    )
    collector = asyncio.ensure_future(full_collections(expect_stall=watchdog.expected))
    # every worker sweeps approvals: the store hands each expiry to exactly one of them
    approvals = asyncio.ensure_future(services.approvals.sweeper())
    audit_failed = asyncio.ensure_future(events.audit.wait_failed())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({audit_failed, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if audit_failed.done() and events.strict:
            log.critical(
                "audit log cannot be written (%s); ending every session", audit_failed.result()
            )
            await front.close(reason="the audit log cannot be written; access is suspended")
    finally:
        audit_failed.cancel()
        stopped.cancel()
        retention.cancel()
        collector.cancel()
        approvals.cancel()
        services.approvals.stopping = True  # pending requests survive a restart
        log.info("shutting down")
        await front.close()
        services.cancel_optional()
        try:
            async with asyncio.timeout(30):
                await services.settle()  # pending audit records, recording indexes
        except TimeoutError:
            log.error("background work still running at shutdown; recordings index on open")
        await services.recorders.stop()  # writes out and closes any open recording
        await watchdog.stop()
        await events.close()


def serve(
    config: Config, policies: PolicySet, *, port: int | None = None, worker: int | None = None
) -> int:
    """Run the broker on its own loop; returns the process exit status."""
    soft, _ = raise_nofile_limit()
    log.info("open-file limit %d (%d kept for the broker's own files)", soft, RESERVED)
    fastpath.install()
    umask = os.umask(0o077)  # everything the broker writes is its own: keys, audit, recordings
    try:
        with asyncio.Runner(loop_factory=BrokerEventLoop) as runner:
            runner.run(run_broker(config, policies, port=port, worker=worker))
    except (ListenError, StartupError) as exc:
        print(f"gatehouse: {exc}", file=sys.stderr)
        return 1
    finally:
        os.umask(umask)
    return 0
