"""The `sql CONN [--csv|--json] [-- "SQL"]` verb: the statement from the line or from stdin."""

from __future__ import annotations

import asyncio

from broker.common.errors import GatehouseError
from broker.frontdoor.approvals import ask_for
from broker.frontdoor.channel import TerminalChannel
from broker.frontdoor.commands import ExecRequest
from broker.services import Services
from broker.session.sql import MAX_TEXT

STDIN_TIMEOUT = 60.0


class _Collect:
    """Takes the client's stdin until EOF, refusing more than MAX_TEXT bytes."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.done = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.size += len(data)
        if self.size <= MAX_TEXT:
            self.chunks.append(data)
        else:
            self.done.set()

    def size_changed(self, cols: int, rows: int) -> None:
        pass

    def eof_received(self) -> None:
        self.done.set()


class _Ignore:
    """Takes and drops further input while the SQL runs."""

    def data_received(self, data: bytes) -> None:
        pass

    def size_changed(self, cols: int, rows: int) -> None:
        pass

    def eof_received(self) -> None:
        pass


async def read_statement(channel: TerminalChannel) -> str:
    """The SQL text the client sends on stdin (until EOF).

    Raises:
        GatehouseError: too long, not UTF-8, or no EOF in time.
    """
    collect = _Collect()
    channel.set_consumer(collect)
    try:
        await asyncio.wait_for(collect.done.wait(), STDIN_TIMEOUT)
    except TimeoutError:
        raise GatehouseError("sql: no statement on stdin (give one after `--`)") from None
    finally:
        channel.set_consumer(None)
    if collect.size > MAX_TEXT:
        raise GatehouseError(f"sql: the statement is longer than {MAX_TEXT} bytes")
    try:
        return b"".join(collect.chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise GatehouseError("sql: the statement is not UTF-8") from None


async def sql_verb(services: Services, channel: TerminalChannel, request: ExecRequest) -> int:
    """Run the request's SQL and print its result; returns the exit status."""
    text = request.command or await read_statement(channel)
    fmt = "csv" if "--csv" in request.flags else "json" if "--json" in request.flags else "aligned"
    # the channel's reader only runs with a consumer, and only it sees the client leave
    channel.set_consumer(_Ignore())
    try:
        ask = ask_for(channel, request)
        return await services.sql(channel.principal, request.connection, text, fmt, channel, ask)
    finally:
        channel.set_consumer(None)
