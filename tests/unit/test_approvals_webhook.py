"""The approvals webhook against a local HTTP server: notices, retries, never blocking."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from broker.approvals import webhook
from broker.approvals.asks import Terms
from broker.approvals.service import ApprovalService
from broker.approvals.webhook import Webhook, webhook_notify

TERMS = Terms(rule="prod", approvers=("approvers",), needed=1, grant_seconds=60)


class Hook:
    """A local Slack-like endpoint: records bodies; can fail or hang a number of times."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail = 0
        self.hang = threading.Event()
        self.hanging = False
        self.got = threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.hanging:
                    hook.hang.wait(10)
                if hook.fail:
                    hook.fail -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                with hook.got:
                    hook.bodies.append(json.loads(body))
                    hook.got.notify_all()
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.hang.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


class Tasks:
    """A spawner that keeps its tasks (as the services facade does)."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []
        self.essential: list[bool] = []

    def __call__(self, work: Coroutine[Any, Any, None], *, essential: bool = True) -> None:
        self.tasks.append(asyncio.get_running_loop().create_task(work))
        self.essential.append(essential)

    async def settle(self) -> None:
        await asyncio.wait_for(asyncio.gather(*self.tasks), 30)


async def noop_emit(*args: Any) -> None:
    return None


async def test_new_request_and_decision_are_posted_as_slack_text(
    hook: Hook, tmp_path: Path
) -> None:
    tasks = Tasks()
    service = ApprovalService(tmp_path, noop_emit, notify=webhook_notify(hook.url, tasks))
    request = await service.request("alice", "prod-1", None, TERMS, "INC-1 <b>&")
    await service.decide("bob", ("approvers",), request.id, approved=False, comment="freeze")
    await tasks.settle()
    assert tasks.essential == [False, False]  # shutdown does not wait for a webhook
    texts = [body["text"] for body in hook.bodies]
    assert len(texts) == 2
    assert texts[0].startswith(f"Approval requested: {request.id} by alice for prod-1")
    assert "Justification: INC-1 &lt;b&gt;&amp;" in texts[0]
    assert texts[1] == f"{request.id} denied by bob: freeze; now denied (0/1)"


async def test_failures_are_retried(hook: Hook, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhook, "RETRIES", (0.01, 0.01, 0.01))
    hook.fail = 2
    tasks = Tasks()
    Webhook(hook.url, tasks).notify("hello")
    await tasks.settle()
    assert [b["text"] for b in hook.bodies] == ["hello"]


async def test_a_dead_endpoint_never_blocks_a_request(tmp_path: Path) -> None:
    tasks = Tasks()
    hung = Hook()
    hung.hanging = True
    try:
        service = ApprovalService(tmp_path, noop_emit, notify=webhook_notify(hung.url, tasks))
        request = await asyncio.wait_for(service.request("alice", "prod-1", None, TERMS, "x"), 5)
        assert request.status == "pending"
        assert not tasks.tasks[0].done()  # the notice is still on its way
    finally:
        for task in tasks.tasks:
            task.cancel()
        hung.close()


def test_no_url_no_webhook() -> None:
    assert webhook_notify("", Tasks()) is None


def test_config_takes_an_http_webhook_only(tmp_path: Path) -> None:
    from broker.common.errors import ConfigError
    from broker.common.yamlsrc import parse_yaml
    from broker.config.model import parse_config

    base = "users: {}\nconnections: {}\n"
    ok = parse_config(
        parse_yaml(base + "approvals: {webhook: 'https://hooks.example/x'}\n", "g.yaml"),
        tmp_path / "g.yaml",
    )
    assert ok.approvals_webhook == "https://hooks.example/x"
    with pytest.raises(ConfigError) as info:
        parse_config(
            parse_yaml(base + "approvals: {webhook: 'file:///etc/passwd'}\n", "g.yaml"),
            tmp_path / "g.yaml",
        )
    assert (info.value.line, info.value.key) == (3, "approvals.webhook")
