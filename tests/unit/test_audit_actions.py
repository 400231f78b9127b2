"""Every audit action the broker emits is an Action member, never a string literal."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from broker.auditchain.events import Action

ROOT = Path(__file__).resolve().parents[2]
BROKER = ROOT / "broker"
DEFINED_IN = BROKER / "auditchain" / "events.py"
EMITTERS = {
    "emit",
    "emit_soon",
    "_emit",
    "_emit_soon",
    "note_event",
    "append",
    "append_sync",
    "record_cli_event",
}
"""Calls that take an audit action (`append` only with an actor before it, see below)."""
ACTION_VALUES = {a.value for a in Action}


def _callee(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _action_arg(call: ast.Call) -> ast.expr | None:
    """The argument in the action's place of an emitter call, if it has one."""
    for kw in call.keywords:
        if kw.arg == "action":
            return kw.value
    name, args = _callee(call), call.args
    if name in ("emit", "emit_soon", "append") and len(args) >= 2:
        return args[1]  # (actor, action, target, details)
    if name in ("_emit", "_emit_soon") and args:
        return args[0]  # (action, details)
    if name == "note_event" and len(args) >= 2:
        return args[1]  # (actor, action, details)
    if name in ("append_sync", "record_cli_event") and len(args) >= 3:
        return args[2]  # (directory|config, key|actor, ...)
    return None


def literal_actions(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of each string literal passed as an action, or equal to an action's value."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _callee(node) in EMITTERS:
            arg = _action_arg(node)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((arg.lineno, arg.value))
            elif isinstance(arg, ast.JoinedStr):
                found.append((arg.lineno, "<f-string>"))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in ACTION_VALUES
        ):
            found.append((node.lineno, node.value))
    return sorted(set(found))


def test_broker_emits_no_string_literal_actions() -> None:
    offenders = []
    for path in sorted(BROKER.rglob("*.py")):
        if path == DEFINED_IN:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        offenders += [
            f"{path.relative_to(ROOT)}:{line}: {text!r}" for line, text in literal_actions(tree)
        ]
    assert offenders == [], "use an Action member:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "source",
    [
        'await self.events.emit(who, "session.start", conn, {})',
        'self.emit_soon(who, "made.up", conn, {})',
        'await self._emit("command.run", details)',
        'self._emit_soon("made.up", details)',
        'front.note_event(user, "login.failure", {})',
        'append_sync(d, key, "cli", "secret.set", "db")',
        'record_cli_event(config, user, action="secret.set", target="x", details={})',
        'await log.append("broker", f"audit.{kind}", "audit", {})',
        'NOTICE = frozenset(("policy.denied",))',
    ],
)
def test_the_scan_finds_literal_actions(source: str) -> None:
    assert literal_actions(ast.parse(source)) != []


@pytest.mark.parametrize(
    "source",
    [
        "await self.events.emit(who, Action.SESSION_START, conn, {})",
        'self._emit(Action.COMMAND_RUN, {"command": "echo session.start x"})',
        'lines.append("session started")',  # list.append with one argument is no emitter
        '"""Docstring naming ``command.run`` in passing."""',
    ],
)
def test_the_scan_accepts_members(source: str) -> None:
    assert literal_actions(ast.parse(source)) == []


def test_values_on_disk_are_unchanged() -> None:
    assert Action.SESSION_START == "session.start"
    assert f"{Action.HOST_KEY_MISMATCH}" == "upstream.host_key_mismatch"
    assert len(ACTION_VALUES) == len(Action)
