"""What a command line runs, as command rules see it: simple commands, what wrappers run, shells' -c."""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase

from broker.policy.shell import SimpleCommand, Undecidable, Word, parse

DEFAULT_INTERPRETERS: tuple[str, ...] = (
    *("sh", "bash", "dash", "ksh", "mksh", "zsh", "fish", "csh", "tcsh", "busybox"),
    *("python", "python[0-9]*", "pypy*", "perl", "perl[0-9]*", "ruby", "irb", "node", "nodejs"),
    *("deno", "bun", "php", "lua", "lua[0-9]*", "tclsh", "wish", "expect", "gdb", "R", "Rscript"),
    *("awk", "gawk", "mawk", "nawk", "psql", "mysql", "mariadb", "sqlite3", "redis-cli"),
    *("mongo", "mongosh", "pwsh", "jshell", "groovy", "scala", "osascript", "at", "batch"),
)
"""Programs that run code they read from stdin, a file or an argument (a policy may replace it)."""
SHELLS = frozenset({"sh", "bash", "dash", "ksh", "mksh"})
"""POSIX shells whose ``-c`` string is parsed and decided like the command line itself."""
MAX_DEPTH = 4
"""Nesting of ``bash -c '… bash -c …'`` beyond which a command is undecidable."""

DANGEROUS_NAMES = frozenset(
    {
        *("PATH", "IFS", "HOME", "CDPATH", "ENV", "BASH_ENV", "SHELLOPTS", "BASHOPTS"),
        *("GLOBIGNORE", "EXECIGNORE", "PS4", "PROMPT_COMMAND", "BASH_XTRACEFD", "BASH_CMDS"),
        *("BASH_ALIASES", "PAGER", "MANPAGER", "SYSTEMD_PAGER", "EDITOR", "VISUAL", "LESSOPEN"),
        *("LESSCLOSE", "GIT_PAGER", "GIT_EDITOR", "GIT_SSH", "GIT_SSH_COMMAND", "SUDO_ASKPASS"),
        *("GIT_EXTERNAL_DIFF", "GIT_PROXY_COMMAND", "SSH_ASKPASS", "PYTHONSTARTUP", "PERL5OPT"),
    }
)
"""Variables that change which program runs or make a program run other code."""
_DANGEROUS_PREFIXES = ("LD_", "BASH_FUNC_", "DYLD_")
CODE_BUILTINS = frozenset({"eval", "source", ".", "alias", "trap", "hash", "enable", "bind", "fc"})
"""Builtins that run or define code from their arguments."""
SETTERS = frozenset(
    {"export", "declare", "typeset", "local", "readonly", "read", "printf", "mapfile"}
    | {"readarray", "getopts", "let", "unset"}
)
"""Builtins that assign variables named by their arguments."""

# Wrappers: programs that run another program given in their arguments.
# name → (short options that take a value, long options that take a value, operands before the command)
_WRAPPERS: dict[str, tuple[str, frozenset[str], int]] = {
    "sudo": ("CDghprtTUu", frozenset({"chdir", "close-from", "group", "host", "prompt"}), 0),
    "doas": ("Cu", frozenset(), 0),
    "env": ("Cu", frozenset({"chdir", "unset"}), 0),
    "command": ("", frozenset(), 0),
    "builtin": ("", frozenset(), 0),
    "exec": ("a", frozenset(), 0),
    "nice": ("n", frozenset({"adjustment"}), 0),
    "nohup": ("", frozenset(), 0),
    "setsid": ("", frozenset(), 0),
    "stdbuf": ("ioe", frozenset({"input", "output", "error"}), 0),
    "ionice": ("cn", frozenset({"class", "classdata"}), 0),
    "timeout": ("sk", frozenset({"signal", "kill-after"}), 1),
    "chroot": ("", frozenset({"userspec", "groups"}), 1),
    "time": ("fo", frozenset({"format", "output"}), 0),
    "xargs": ("aEdILnPs", frozenset({"arg-file", "delimiter", "eof", "max-lines"}), 0),
    "flock": ("Ew", frozenset({"timeout", "conflict-exit-code"}), 1),
    "taskset": ("", frozenset(), 1),
    "busybox": ("", frozenset(), 0),
    "toybox": ("", frozenset(), 0),
    "strace": ("abeEIoOpPsSuUX", frozenset(), 0),
    "ltrace": ("aAeEnopsSuX", frozenset(), 0),
}
_STRING_COMMANDS = {"su": "c", "runuser": "c", "flock": "c", "script": "c", "watch": ""}
"""Programs that hand a string to a shell: option letter for it ("" = all operands joined)."""
_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})


@dataclass(frozen=True)
class View:
    """One command as the rules judge it."""

    words: tuple[Word, ...]
    """Its argument vector (empty for an assignment alone)."""
    command: SimpleCommand
    """The simple command it comes from."""
    typed: bool = True
    """True for the command as written; False for one that a wrapper (sudo, env, …) runs."""

    @property
    def program(self) -> str:
        """The program as written (``""`` for an assignment alone)."""
        return self.words[0].text if self.words else ""

    @property
    def unknown(self) -> str:
        """Why some part of this command cannot be known from the text; "" if all is literal."""
        for word in self.words:
            if word.unknown:
                return f"{word.unknown}: {word.text!r}"
        return self.command.unknown

    def texts(self) -> tuple[str, ...]:
        """The texts that regex rules are matched against."""
        argv = [w.text for w in self.words]
        out = [" ".join(argv)]
        if argv and "/" in argv[0]:
            out.append(" ".join([posixpath.basename(argv[0]), *argv[1:]]))
        if self.typed and (self.command.assignments or self.command.redirects):
            out.append(self.command.text)
        return tuple(out)


def command_views(
    source: str, interpreters: Collection[str] = DEFAULT_INTERPRETERS, depth: int = 0
) -> tuple[View, ...]:
    """Every command ``source`` would run, as written and as run by wrappers and shells' ``-c``.

    Raises:
        Undecidable: naming why a part of the line cannot be decided from its text.
    """
    if depth > MAX_DEPTH:
        raise Undecidable("shells nested too deeply")
    out: list[View] = []
    for command in parse(source):
        _check_assignments(command.assigned())
        out.extend(_views(View(command.words, command), interpreters, depth))
    return tuple(out)


def _views(view: View, interpreters: Collection[str], depth: int) -> Iterator[View]:
    yield view
    if not view.words or view.words[0].unknown:
        return
    argv = [w.text for w in view.words]
    name = posixpath.basename(argv[0])
    if name in CODE_BUILTINS:
        raise Undecidable(f"`{name}` runs code the rules cannot see")
    if name in SETTERS:
        _check_assignments(w.text.split("=", 1)[0].removesuffix("+") for w in view.words[1:])
    if name in _STRING_COMMANDS:
        codes = _string_arguments(argv, _STRING_COMMANDS[name], name)
        for code in codes:
            yield from _shell_code(code, view, interpreters, depth)
        if codes:
            return
    if name == "ssh":
        yield from _shell_code(_ssh_remote_command(argv), view, interpreters, depth)
        return
    if name == "find":
        for inner in _find_commands(view.words):
            yield from _views(View(inner, view.command, typed=False), interpreters, depth)
        return
    if name in _WRAPPERS:
        inner = _wrapped(view.words, name)
        if inner:
            yield from _views(View(inner, view.command, typed=False), interpreters, depth)
            return
    if any(fnmatchcase(name, pattern) for pattern in interpreters):
        yield from _interpreter(argv, name, view, interpreters, depth)


def _interpreter(
    argv: list[str], name: str, view: View, interpreters: Collection[str], depth: int
) -> Iterator[View]:
    if name in SHELLS:
        code = _shell_c_string(argv[1:], name)
        yield from _shell_code(code, view, interpreters, depth)
        return
    raise Undecidable(f"`{name}` is an interpreter: it runs a program the rules cannot see")


def _shell_code(code: str, view: View, interpreters: Collection[str], depth: int) -> Iterator[View]:
    """The commands of a string a shell runs: written by the user, so allow lists judge them."""
    for inner in command_views(code, interpreters, depth + 1):
        yield View(inner.words, inner.command, typed=inner.typed and view.typed)


def _shell_c_string(args: list[str], name: str) -> str:
    """The ``-c`` string of a POSIX shell's arguments; anything else would read unseen code."""
    has_c = False
    for arg in args:
        if arg in ("--", "-"):  # the end of options: what follows is a script and its arguments
            break
        if arg in ("--norc", "--noprofile", "--posix", "--login"):
            continue
        if arg[:1] == "-" and arg[1:2] != "-" and "s" in arg:
            break
        if len(arg) > 1 and arg[0] == "-" and arg[1:].isalpha() and set(arg[1:]) <= set("celuvx"):
            has_c = has_c or "c" in arg[1:]
            continue
        if arg.startswith(("-", "+")):
            raise Undecidable(f"`{name}` option {arg!r} is not modelled")
        if has_c:
            return arg
        break
    raise Undecidable(
        f"`{name}` would read commands from stdin or a file (a shell is refused "
        "on connections with command rules unless it is given `-c COMMAND`)"
    )


def _string_arguments(argv: list[str], letter: str, name: str) -> list[str]:
    """The shell strings handed over by su/runuser/flock/script (``-c``) or watch (all operands)."""
    if not letter:
        if any(a.startswith("-") for a in argv[1:]):
            raise Undecidable(f"`{name}` options are not modelled")
        return [" ".join(argv[1:])] if argv[1:] else []
    found = []
    for i, arg in enumerate(argv[1:], start=1):
        if arg in (f"-{letter}", "--command") and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif arg.startswith(f"-{letter}") and len(arg) > 2 and not arg.startswith("--"):
            found.append(arg[2:])
        elif arg.startswith("--command="):
            found.append(arg.removeprefix("--command="))
    if not found and name in ("su", "runuser", "script"):
        raise Undecidable(f"`{name}` without -c starts a shell reading unseen commands")
    return found


_SSH_VALUED = "BbcDEeFIiJLlmOoPpQRSWw"


def _ssh_remote_command(argv: list[str]) -> str:
    """The command ``ssh`` runs on the remote host (its operands after the host, joined)."""
    i = 1
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        arg = argv[i]
        i += 1
        for k, letter in enumerate(arg[1:], start=2):
            if letter in _SSH_VALUED:
                i += 1 if k == len(arg) else 0
                break
    if i < len(argv) and argv[i] == "--":
        i += 1
    rest = argv[i + 1 :]
    if not rest:
        raise Undecidable("`ssh` without a command starts a remote shell reading unseen commands")
    return " ".join(rest)


def _wrapped(words: tuple[Word, ...], name: str) -> tuple[Word, ...]:
    """The command a wrapper runs (its words), or () if it runs none."""
    short, long_, positionals = _WRAPPERS[name]
    if name in ("busybox", "toybox"):
        return words[1:]
    i, n = 1, len(words)
    while i < n:
        arg = words[i].text
        if words[i].unknown:
            raise Undecidable(f"cannot tell what `{name}` runs ({words[i].unknown})")
        if arg == "--":
            i += 1
            break
        if name == "env" and (
            arg.startswith("--split-string") or (arg[:1] == "-" and arg[1:2] != "-" and "S" in arg)
        ):
            raise Undecidable("`env -S` splits a string into a command")
        if arg.startswith("--") and len(arg) > 2:
            key = arg[2:].split("=", 1)[0]
            i += 2 if key in long_ and "=" not in arg else 1
            continue
        if name == "env" and arg == "-":  # the same as -i
            i += 1
            continue
        if arg.startswith("-") and len(arg) > 1:
            i += 1
            for k, letter in enumerate(arg[1:], start=2):
                if letter in short:
                    i += 1 if k == len(arg) else 0
                    break
            continue
        if name == "env" and "=" in arg:
            _check_assignments([arg.split("=", 1)[0]])
            i += 1
            continue
        break
    i += positionals
    inner = words[i:] if i < n else ()
    if name == "xargs":
        appended = Word("…", "arguments xargs reads from stdin")
        return (*inner, appended) if inner else (Word("echo"), appended)
    if name in ("sudo", "doas") and not inner:
        flags = "".join(w.text for w in words[1:] if w.text.startswith("-"))
        if "s" in flags or "i" in flags:
            raise Undecidable(f"`{name}` starts a shell reading unseen commands")
    return inner


def _find_commands(words: tuple[Word, ...]) -> Iterator[tuple[Word, ...]]:
    """The commands ``find … -exec CMD … ;`` runs; ``{}`` stands for names find fills in."""
    i, n = 1, len(words)
    while i < n:
        if words[i].text in _FIND_EXEC:
            j = i + 1
            while j < n and words[j].text not in (";", "+"):
                j += 1
            inner = tuple(
                Word(w.text, w.unknown or ("a name find fills in" if "{}" in w.text else ""))
                for w in words[i + 1 : j]
            )
            if inner:
                yield inner
            i = j
        i += 1


def _check_assignments(names: Iterator[str] | tuple[str, ...] | list[str]) -> None:
    for name in names:
        if name in DANGEROUS_NAMES or name.startswith(_DANGEROUS_PREFIXES):
            raise Undecidable(f"assigning {name} changes what later commands run")
