"""Command rules: what may run, decided on each simple command of a real shell parse (pure)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from broker.policy.access import Action, Decision, connection_match, groups_match
from broker.policy.shell import SimpleCommand, Undecidable, Word
from broker.policy.views import DEFAULT_INTERPRETERS, View, command_views

NO_COMMAND_RULE = "no-command-rule"
UNDECIDABLE = "undecidable"
"""The rule name of a refusal that no single rule made: the line cannot be parsed or decided."""
MAX_TERMINAL_LINE = 1024
"""Longer terminal lines are judged as typed, unparsed: the check runs on the relay's path."""
_RANK = {"allow": 0, "approval": 1, "deny": 2}


@dataclass(frozen=True)
class CommandRule:
    """A test on each command of a command line → an action; first matching rule wins.

    Exactly one of ``pattern``, ``argv`` and ``allow`` is set.
    """

    name: str
    """Rule name, shown in refusals and the audit log."""
    pattern: re.Pattern[str] | None
    """A regex searched in each command's normalised text (words after quote removal)."""
    action: Action
    """What happens to a matching command (for an allow list: to every command not on it)."""
    groups: tuple[str, ...] = ("*",)
    """Members of these groups are subject to the rule."""
    connections: tuple[str, ...] = ("*",)
    """Connection-name globs the rule applies to."""
    argv: tuple[tuple[str, ...], ...] = ()
    """argv patterns: one glob per argument, ``**`` for any run of arguments."""
    allow: tuple[tuple[str, ...], ...] = ()
    """An allow list of argv patterns: a command as typed must match one, or gets ``action``."""
    approvers: tuple[str, ...] = ()
    """For action `approval`: groups whose members may approve (none: the `approvers` role)."""
    approvals: int = 1
    """For action `approval`: how many distinct people must approve."""
    grant_seconds: int = 3600
    """For action `approval`: how long the approved command may be run (`run --request`)."""
    reason_required: bool = True
    """For action `approval`: whether the request needs a justification."""


def decide_command(
    rules: Sequence[CommandRule],
    groups: Iterable[str],
    connection: str,
    command: str,
    interpreters: Collection[str] | None = None,
    *,
    strict: bool = True,
) -> Decision:
    """Decide whether ``command`` may run: the strictest verdict over all the commands it runs.

    With no rule for these groups and this connection the command is allowed unparsed. Otherwise
    the line is parsed as bash would parse it, and each simple command (with what wrappers such
    as ``sudo``/``env``/``xargs`` and ``sh -c`` run) meets the rules in order; the first rule that
    matches decides for that command, no match allows it. A command whose deciding part is not
    literal (a variable, a substitution, a glob where a rule looks), an interpreter that runs
    unseen code, or a line the parser rejects is refused, ``reason`` saying why.
    ``interpreters`` are program globs refused unless a shell given ``-c`` (None: the built-in
    list).

    ``strict=False`` is for lines typed in a terminal, which may be input to any program (a
    prompt, an editor): allow lists are not applied, and what cannot be decided is judged on its
    text as typed instead of refused. That is input-layer protection only.
    """
    groups = tuple(groups)
    scoped = [
        r
        for r in rules
        if groups_match(r.groups, groups) and connection_match(r.connections, connection)
    ]
    if not scoped:
        return Decision(action="allow", rule=NO_COMMAND_RULE)
    if not strict and len(command) > MAX_TERMINAL_LINE:
        return _decide_view(scoped, _as_typed(command), strict=False)
    try:
        views = command_views(
            command, DEFAULT_INTERPRETERS if interpreters is None else interpreters
        )
    except Undecidable as exc:
        if strict:
            return Decision(action="deny", rule=UNDECIDABLE, reason=exc.reason)
        views = (_as_typed(command),)
    worst = Decision(action="allow", rule=NO_COMMAND_RULE)
    for view in views:
        verdict = _decide_view(scoped, view, strict=strict)
        if worst.rule == NO_COMMAND_RULE and verdict.action == "allow":
            worst = verdict  # name the rule that allowed, if one did
        if _RANK[verdict.action] > _RANK[worst.action]:
            worst = verdict
            if verdict.action == "deny":
                break
    return worst


def _as_typed(line: str) -> View:
    """A line that cannot be parsed, as whitespace-separated words (for terminals only)."""
    words = tuple(Word(w) for w in line.split())
    return View(words, SimpleCommand(words))


def _decide_view(rules: Sequence[CommandRule], view: View, *, strict: bool) -> Decision:
    if not strict:
        command = replace(view.command, unknown="")
        view = View(tuple(Word(w.text) for w in view.words), command, view.typed)
    for rule in rules:
        if rule.allow:
            if not strict or not view.typed or not view.words:
                continue
            if view.unknown:
                return _undecidable(rule, view.unknown)
            argv = tuple(w.text for w in view.words)
            if any(argv_match(p, argv, lenient=False) for p in rule.allow):
                return Decision(action="allow", rule=rule.name)
            return Decision(action=rule.action, rule=rule.name, reason="not on the allow list")
        if rule.argv:
            if not view.words:
                continue
            if view.words[0].unknown:
                return _undecidable(rule, f"{view.words[0].unknown} names the program")
            if not any(_program_match(p[0], view.program, lenient=True) for p in rule.argv if p):
                continue
            if view.unknown:
                return _undecidable(rule, view.unknown)
            argv = tuple(w.text for w in view.words)
            if any(argv_match(p, argv, lenient=True) for p in rule.argv):
                return Decision(action=rule.action, rule=rule.name)
            continue
        if rule.pattern is not None:
            if view.unknown:
                return _undecidable(rule, view.unknown)
            if any(rule.pattern.search(text) for text in view.texts()):
                return Decision(action=rule.action, rule=rule.name)
    return Decision(action="allow", rule=NO_COMMAND_RULE)


def _undecidable(rule: CommandRule, why: str) -> Decision:
    return Decision(action="deny", rule=rule.name, reason=f"cannot be decided ({why})")


def _program_match(pattern: str, program: str, *, lenient: bool) -> bool:
    """A deny rule for ``rm`` also stops ``/bin/rm``; an allow list for ``ls`` allows no ``./ls``."""
    if fnmatchcase(program, pattern):
        return True
    return lenient and "/" in program and fnmatchcase(posixpath.basename(program), pattern)


def argv_match(pattern: Sequence[str], argv: Sequence[str], *, lenient: bool) -> bool:
    """Whether ``argv`` matches ``pattern``: one glob per argument, ``**`` for zero or more.

    ``lenient`` (deny and approval rules) also matches a program given by path on its base name.
    """
    if not pattern or not argv or not _program_match(pattern[0], argv[0], lenient=lenient):
        return False
    pats, args = tuple(pattern[1:]), tuple(argv[1:])
    # positions in pats reachable after consuming args[:j]; ** may absorb any run
    states = _closure({0}, pats)
    for arg in args:
        step = set()
        for k in states:
            if k < len(pats):
                if pats[k] == "**":
                    step.add(k)
                elif fnmatchcase(arg, pats[k]):
                    step.add(k + 1)
        states = _closure(step, pats)
        if not states:
            return False
    return len(pats) in states


def _closure(states: set[int], pats: tuple[str, ...]) -> set[int]:
    out = set(states)
    for k in sorted(states):
        while k < len(pats) and pats[k] == "**":
            k += 1
            out.add(k)
    return out


def describe(decision: Decision) -> str:
    """A refusal as the user reads it, naming the rule and, if any, the reason."""
    if decision.rule == UNDECIDABLE:
        return f"command refused: {decision.reason}"
    if decision.reason.startswith("cannot be decided"):
        return f"command refused: it {decision.reason}, and rule {decision.rule!r} looks at it"
    what = "needs an approval" if decision.action == "approval" else "denied"
    text = f"command {what} by rule {decision.rule!r}"
    return f"{text} ({decision.reason})" if decision.reason else text
