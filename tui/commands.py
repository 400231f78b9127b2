"""The command palette (Ctrl+P): every pane and action this user may use, and nothing else."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher
from textual.markup import escape

from broker.common.text import escape_controls

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen

    from tui.app import GatehouseApp


@dataclass(frozen=True)
class Command:
    """One entry of the palette."""

    title: str
    """What the palette lists and matches (may quote a connection name: shown as text)."""
    help: str
    """One line under the title."""
    run: Callable[[], object]
    """What choosing it does."""


def commands_for(app: GatehouseApp, screen: Screen[Any]) -> list[Command]:
    """The panes and actions open to ``app``'s user, then the keys of ``screen``.

    Panes follow the roles the review service grants: the audit log only to auditors,
    recordings of other users only to reviewers. Connections are the ones policy lets
    this user open (what the picker lists).
    """
    services, principal = app.services, app.principal
    review = services.review
    reviewer = review.is_reviewer(principal)
    out = [
        Command("Connections", "pick a connection and open a session", app.action_connections),
        Command(
            "Recordings",
            "find and replay recorded sessions"
            + ("" if reviewer else " (your own: you are not a reviewer)"),
            app.action_recordings,
        ),
    ]
    if review.is_auditor(principal):
        out.append(Command("Audit log", "the signed audit log, live", app.action_audit))
    if app.is_approver:
        out.append(
            Command("Approvals", "pending requests you may decide (Ctrl+O)", app.action_approvals)
        )
    out.append(Command("Help", "keys and how sessions work", app.action_help))
    out.append(Command("Quit", "leave Gatehouse", app.exit))
    for view in services.connections_for(principal):
        note = "needs an approval first" if view.needs_approval else view.type
        out.append(
            Command(
                f"Connect to {view.name}",
                f"{note} · {view.target}",
                _connect(app, view.name),
            )
        )
    seen = {c.title for c in out}  # "Help" is listed once, not again as "Help (?)"
    for command in _screen_actions(app, screen):
        what = command.title.rsplit(" (", 1)[0]
        if what not in seen:
            seen.add(what)
            out.append(command)
    return out


def _connect(app: GatehouseApp, name: str) -> Callable[[], object]:
    def run() -> None:
        app.connect_to(name)

    return run


_GENERIC = frozenset(("focus_next", "focus_previous", "copy_text", "minimize", "maximize"))
"""Textual's own screen keys: not actions of ours worth listing."""


def _screen_actions(app: App[Any], screen: Screen[Any]) -> Iterator[Command]:
    """``screen``'s key bindings as commands: all of its own, its widgets' that it shows."""
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description or not active.enabled:
            continue
        if not binding.show and active.node is not screen:
            continue  # a widget's own keys (text editing in a box) unless its footer shows them
        if binding.action.rsplit(".", 1)[-1] in _GENERIC:
            continue
        if active.node is app and isinstance(app, _gatehouse_app()):
            continue  # app-wide actions are listed above
        action, node = binding.action, active.node

        def run(action: str = action, node: object = node) -> object:
            return app.run_action(action, node)  # type: ignore[arg-type]

        title = f"{binding.description} ({app.get_key_display(binding)})"
        yield Command(title, f"{screen.title or 'this screen'}: key {key}", run)


def _highlight(matcher: Matcher, text: str) -> Content:
    """``text`` with the matched letters marked; unlike ``Matcher.highlight``, never markup."""
    content = Content(text)
    score, offsets = matcher.fuzzy_search.match(matcher.query, text)
    if score:
        for offset in offsets:
            if not text[offset].isspace():
                content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


def _gatehouse_app() -> type[App[Any]]:
    from tui.app import GatehouseApp

    return GatehouseApp


class GatehouseCommands(Provider):
    """Lists :func:`commands_for` in Textual's command palette."""

    def _commands(self) -> list[Command]:
        from tui.app import GatehouseApp

        app = self.app
        if isinstance(app, GatehouseApp):
            return commands_for(app, self.screen)
        return list(_screen_actions(app, self.screen))  # the local player

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(
                Content(escape_controls(command.title)),
                command.run,
                text=command.title,
                help=escape(escape_controls(command.help)),
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            title = escape_controls(command.title)
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score,
                    _highlight(matcher, title),
                    command.run,
                    text=command.title,
                    help=escape(escape_controls(command.help)),
                )
