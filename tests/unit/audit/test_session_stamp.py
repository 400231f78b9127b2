"""The session stamp reaches records from every task of the session, and no other session."""

from __future__ import annotations

import asyncio

from broker.auditchain.context import open_session_stamp, stamp_session, stamped


async def test_a_stamp_added_by_a_child_task_reaches_its_siblings_only() -> None:
    seen: dict[str, dict[str, object]] = {}

    async def session(name: str, sign_in: bool) -> None:
        open_session_stamp()
        ready = asyncio.Event()

        async def worker() -> None:
            if sign_in:
                stamp_session({"idp_subject": name})
            ready.set()

        async def other() -> None:
            await ready.wait()
            seen[name] = stamped({"x": 1, "idp_subject": "forged"})

        await asyncio.gather(asyncio.create_task(worker()), asyncio.create_task(other()))

    await asyncio.gather(session("alice", True), session("bob", False))
    assert seen["alice"] == {"x": 1, "idp_subject": "alice"}
    assert seen["bob"] == {"x": 1, "idp_subject": "forged"}
    assert stamped({"y": 2}) == {"y": 2}
