"""The shell parse under command rules: quote removal as bash does it, and no input crashes it."""

from __future__ import annotations

import re
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.policy.access import ACTIONS
from broker.policy.commands import CommandRule, decide_command
from broker.policy.shell import SimpleCommand, Undecidable, Word, parse, unquote
from broker.policy.views import command_views

RULES = (
    CommandRule("no-key", re.compile(r"id_rsa"), "deny"),
    CommandRule("no-secret", None, "deny", argv=(("cat", "**", "*secret*", "**"),)),
    CommandRule("allow-some", None, "deny", allow=(("cat", "**"), ("ls", "**"))),
)


@pytest.mark.parametrize(
    ("raw", "text", "unknown"),
    [
        ('~/"secret".txt', "~/secret.txt", ""),
        ("~/secre\\t.txt", "~/secret.txt", ""),
        ("'a b'\"c d\"e\\ f", "a bc de f", ""),
        ('"a\\$b\\`c\\\\d\\e"', "a$b`c\\d\\e", ""),
        ("$'\\x72m'", "rm", ""),
        ("$'\\162\\u00e9\\n\\''", "ré\n'", ""),
        ("$'\\cA'", "\x01", ""),
        ("$'\\c?'", "\x7f", ""),
        ("$'rm\\0-x'-y", "rm-y", ""),
        ("$'\\xc3\\xa9'", "é", ""),
        ("$'\\xc3'$'\\xa9'", "é", ""),
        ("$'\\777'", "\udcff", ""),
        ("$'\\ud800'", "$'\\ud800'", "escape outside Unicode in $'…'"),
        ('$"hi"', "hi", ""),
        ("a$", "a$", ""),
        ("$ x", "$ x", ""),
        ("~/$f.txt", "~/$f.txt", "variable `$f…`"),
        ("${HOME}", "${HOME}", "variable `${…`"),
        ('"$1"', '"$1"', "variable `$1…`"),
        ("$(id)", "$(id)", "command substitution `$(…)`"),
        ("`id`", "`id`", "command substitution `…`"),
        ("*.log", "*.log", "glob `*`"),
        ("'*'.log", "*.log", ""),
        ("a{b,c}", "a{b,c}", "brace expansion `{…}`"),
        ("{}", "{}", ""),
        ("[", "[", ""),
        ("a[0]", "a[0]", "glob `[`"),
        ("'unterminated", "'unterminated", "unterminated quote"),
    ],
)
def test_unquote(raw: str, text: str, unknown: str) -> None:
    assert unquote(raw) == Word(text, unknown)


def test_structure_is_walked_in_order() -> None:
    commands = parse("a=1 b x >out; (c | d) && { e; } || f $(g) <(h)\ni")
    assert [c.argv for c in commands] == [
        ("b", "x"),
        ("c",),
        ("d",),
        ("e",),
        ("g",),
        ("h",),
        ("f", "$(g)", "<(h)"),
        ("i",),
    ]
    assert commands[0] == SimpleCommand(
        (Word("b"), Word("x")), (Word("a=1"),), ("> out",), unknown=""
    )
    assert commands[0].text == "a=1 b x > out"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("cat <<EOF\nx\nEOF", "here-document"),
        ("case x in a) id;; esac", "not supported by the parser"),
        ("((x=1))", "arithmetic command"),
        ("echo )", "parser rejects it"),
        ("a\x00b", "NUL"),
        ("x" * 17_000, "longer than"),
    ],
)
def test_undecidable_syntax(source: str, reason: str) -> None:
    with pytest.raises(Undecidable, match=reason):
        parse(source)


def _parse_or_reason(source: str) -> tuple[SimpleCommand, ...] | str:
    try:
        return parse(source)
    except Undecidable as exc:
        return exc.reason


SHELL_TEXT = st.text(
    alphabet=st.sampled_from(list("abcrm ~/*?[]{},;&|<>()$`'\"\\\n\t=-#!0123456789x.")),
    max_size=60,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(SHELL_TEXT, st.text(max_size=80)))
def test_any_text_is_decided_or_refused_never_crashes(source: str) -> None:
    outcome = _parse_or_reason(source)
    if isinstance(outcome, str):
        assert outcome  # a refusal always names its reason
    else:
        assert all(isinstance(c, SimpleCommand) for c in outcome)
    for strict in (True, False):
        verdict = decide_command(RULES, (), "web-1", source, strict=strict)
        assert verdict.action in ACTIONS
        assert verdict.rule


ARG = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12
)


def _quote(arg: str, style: int) -> str:
    """One of several ways a shell user could write ``arg`` literally."""
    if style == 0:
        return "'" + arg.replace("'", "'\\''") + "'"
    if style == 1:
        return "".join("\\" + c if c != "\n" else "'\n'" for c in arg) or "''"
    if style == 2:
        return '"' + "".join("\\" + c if c in '$`"\\' else c for c in arg) + '"'
    return "$'" + "".join(f"\\x{ord(c):02x}" if ord(c) < 0x80 else c for c in arg) + "'"


@settings(max_examples=300)
@given(st.lists(st.tuples(ARG, st.integers(0, 3)), min_size=1, max_size=5))
def test_every_quoting_of_an_argv_parses_back_to_it(args: list[tuple[str, int]]) -> None:
    source = "printf " + " ".join(_quote(arg, style) for arg, style in args)
    try:
        (command,) = parse(source)
    except Undecidable:
        return  # refusing is always allowed; deciding wrongly is not
    assert command.argv == ("printf", *(arg for arg, _ in args))
    assert not any(w.unknown for w in command.words)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(ARG.filter(lambda a: "\r" not in a), st.integers(0, 3)), min_size=1, max_size=4
    )
)
def test_quote_removal_agrees_with_bash(args: list[tuple[str, int]]) -> None:
    """The argv we decide on is the argv bash passes to the program."""
    source = "printf '%s\\0' " + " ".join(_quote(arg, style) for arg, style in args)
    try:
        (command,) = parse(source)
    except Undecidable:
        return
    out = subprocess.run(["bash", "-c", source], capture_output=True, check=True, timeout=10)
    assert out.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1] == list(command.argv[2:])


BASH_TRACE = (
    'command_not_found_handle() { printf "%s\\037" "$@"; printf "\\036"; return 127; }; eval "$1"'
)
"""bash with no PATH: every command it would run reaches this handler with its argv."""
WORDS = st.sampled_from(
    [
        *("a", "b", "rm", "-rf", "/", "'q r'", '"x y"', "$'\\x61\\n'", "\\a", "a\\\nb"),
        *("'\\'", '"\\""', "x#y", "#c", "a=b", "{a,b}", "''", "c'd'e", '"$"', "'a'\"b\""),
        *("a\\;", "! b", "> /dev/null", "2>&1", "<<< w", "<(b)", "`b`"),
    ]
)
OPERATORS = st.sampled_from([" ", " ", " ", ";", "&&", "||", "|", "\n", " & ", "|&"])


@st.composite
def shell_lines(draw: st.DrawFn, depth: int = 0) -> str:
    parts: list[str] = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.integers(0, 9))
        if kind <= 5 or depth > 1:
            parts.append(draw(WORDS))
        elif kind == 6:
            parts.append("$(" + draw(shell_lines(depth + 1)) + ")")
        elif kind == 7:
            parts.append("( " + draw(shell_lines(depth + 1)) + " )")
        elif kind == 8:
            parts.append("{ " + draw(shell_lines(depth + 1)) + "; }")
        else:
            cond, body = draw(shell_lines(depth + 1)), draw(shell_lines(depth + 1))
            parts.append(f"if {cond}; then {body}; fi")
        parts.append(draw(OPERATORS))
    return " ".join(parts[:-1])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shell_lines())
def test_every_command_bash_runs_is_one_we_decided_on(line: str) -> None:
    """Differential against bash: nothing runs that the rules did not see, with that argv."""
    try:
        views = command_views(line, ())
    except Undecidable:
        return
    if any(v.unknown for v in views):
        return
    ours = {tuple(w.text for w in v.words) for v in views if v.words}
    out = subprocess.run(
        ["env", "-i", "PATH=/nonexistent-gatehouse", "bash", "-c", BASH_TRACE, "_", line],
        capture_output=True,
        timeout=10,
        check=False,
    )
    records = out.stdout.decode("utf-8", "surrogateescape").split("\x1e")[:-1]
    ran = {tuple(r.split("\x1f")[:-1]) for r in records}
    assert ran <= ours, (line, ran - ours)


@pytest.mark.parametrize(
    ("line", "runs"),
    [
        ("sudo -u root -g adm rm x", [("sudo", "-u", "root", "-g", "adm", "rm", "x"), ("rm", "x")]),
        ("sudo -uroot -- rm x", [("sudo", "-uroot", "--", "rm", "x"), ("rm", "x")]),
        ("timeout -s KILL 5 rm x", [("timeout", "-s", "KILL", "5", "rm", "x"), ("rm", "x")]),
        (
            "nice -n 5 ionice -c 3 rm x",
            [
                ("nice", "-n", "5", "ionice", "-c", "3", "rm", "x"),
                ("ionice", "-c", "3", "rm", "x"),
                ("rm", "x"),
            ],
        ),
        ("stdbuf -oL rm x", [("stdbuf", "-oL", "rm", "x"), ("rm", "x")]),
        ("env -u HOME -i A=1 rm x", [("env", "-u", "HOME", "-i", "A=1", "rm", "x"), ("rm", "x")]),
        ("chroot /srv rm x", [("chroot", "/srv", "rm", "x"), ("rm", "x")]),
        ("xargs -I{} rm {}", [("xargs", "-I{}", "rm", "{}"), ("rm", "{}", "…")]),
        ("busybox rm x", [("busybox", "rm", "x"), ("rm", "x")]),
        ("find . -exec rm {} +", [("find", ".", "-exec", "rm", "{}", "+"), ("rm", "{}")]),
        ("sh -c 'a; b | c'", [("sh", "-c", "a; b | c"), ("a",), ("b",), ("c",)]),
        (
            "ssh -p 2 -i k host rm x",
            [("ssh", "-p", "2", "-i", "k", "host", "rm", "x"), ("rm", "x")],
        ),
        ("watch uptime", [("watch", "uptime"), ("uptime",)]),
    ],
)
def test_what_wrappers_run(line: str, runs: list[tuple[str, ...]]) -> None:
    views = command_views(line, ("sh",))
    assert [tuple(w.text for w in v.words) for v in views] == runs
    assert [v.typed for v in views][:1] == [True]


ANSI_ESCAPES = st.sampled_from(
    [
        *"abeEfnrtv\\'\"?",
        *("0", "01", "0123", "777", "x", "x4", "x41", "x414", "xg", "xc3", "xa9", "u", "u41"),
        *("u00e9", "u00e9a", "U0001F600", "cA", "c?", "c@", "c[", "q", "8"),
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.text(alphabet='ab c"$`', max_size=3), ANSI_ESCAPES), max_size=4))
def test_ansi_c_strings_decode_as_bash_does(parts: list[tuple[str, str]]) -> None:
    """``$'…'`` as bash builds it: bytes from hex and octal escapes, cut at a NUL."""
    word = "$'" + "".join(text + "\\" + escape for text, escape in parts) + "'"
    decoded = unquote(word)
    if decoded.unknown:
        return
    out = subprocess.run(
        ["bash", "-c", "printf '%s\\0' " + word], capture_output=True, check=True, timeout=10
    )
    assert out.stdout.decode("utf-8", "surrogateescape")[:-1] == decoded.text
