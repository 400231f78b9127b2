"""Attempts to talk around command rules, with the policy they attack (unit and integration tests)."""

from __future__ import annotations

from typing import NamedTuple

POLICY = """\
access:
  - {name: all, groups: [engineers], connections: ["*"], action: allow}
commands:
  - {name: no-secret, match: 'secret\\.txt', action: deny}
  - name: no-rm-root
    argv: [[rm, "**", "-*[rR]*", "**", "/", "**"]]
    action: deny
  - {name: no-sudo, argv: [[sudo, "**"]], action: deny}
  - {name: no-find-delete, argv: [[find, "**", "-delete", "**"]], action: deny}
  - {name: passwd-needs-approval, argv: [[passwd, "**"]], action: approval}
"""
"""A regex rule (looks at every command), argv deny rules and an approval rule."""


class Attempt(NamedTuple):
    command: str
    """The command line as a user would pass it to `run`."""
    rule: str
    """The deciding rule (``undecidable`` when no single rule decided)."""
    says: str
    """A fragment of the refusal the user reads."""


BYPASSES: tuple[Attempt, ...] = (
    # the review's findings
    Attempt("cat ~/secret.tx?", "no-secret", "glob `?`"),
    Attempt('cat ~/"secret".txt', "no-secret", "denied by rule 'no-secret'"),
    Attempt("f=secret; cat ~/$f.txt", "no-secret", "variable `$f"),
    Attempt("cat ~/secre\\t.txt", "no-secret", "denied by rule 'no-secret'"),
    Attempt("id\nsudo id", "no-sudo", "denied by rule 'no-sudo'"),
    Attempt('rm -rf "/"', "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("rm -fr /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("rm -rf /*", "no-secret", "glob `*`"),
    Attempt("bash", "undecidable", "`bash` would read commands from stdin"),
    # quoting and escapes
    Attempt("$'\\x72m' -rf /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("$'rm\\0.sh' -rf /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("$'\\162m' -rf /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt('r""m -rf /', "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("\\rm -rf /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("'rm' -r -f /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("rm --recursive --force /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("cat ~/'secret.txt'", "no-secret", "denied by rule 'no-secret'"),
    Attempt('cat ~/"$(echo secret)".txt', "no-secret", "command substitution"),
    Attempt("cat ~/`echo secret`.txt", "no-secret", "command substitution"),
    Attempt("cat ~/secre{t,}.txt", "no-secret", "brace expansion"),
    Attempt("cat ~/secret.tx[t]", "no-secret", "glob `[`"),
    Attempt("cat ~/secret.tx''t", "no-secret", "denied by rule 'no-secret'"),
    Attempt("cat ~/.ssh/../secret.tx\\t", "no-secret", "denied by rule 'no-secret'"),
    Attempt("cat < ~/secret.txt", "no-secret", "denied by rule 'no-secret'"),
    Attempt("cat ~/secret.t\\\nxt", "no-secret", "denied by rule 'no-secret'"),
    # wrappers and other ways to reach a program
    Attempt("command rm -rf /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("env rm -rf /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("env -i LANG=C rm -rf /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("/bin/rm -rf /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("nice -n 5 nohup rm -rf /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("timeout 5 rm -rf /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("exec rm -rf /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("echo / | xargs rm -rf", "no-secret", "arguments xargs reads from stdin"),
    Attempt("find / -delete", "no-find-delete", "denied by rule 'no-find-delete'"),
    Attempt("find ~ -name x -exec cat {} \\;", "no-secret", "a name find fills in"),
    Attempt("sudo -u root id", "no-sudo", "denied by rule 'no-sudo'"),
    Attempt("id && (true; sudo id)", "no-sudo", "denied by rule 'no-sudo'"),
    Attempt("id | { sudo id; }", "no-sudo", "denied by rule 'no-sudo'"),
    Attempt("echo $(sudo id)", "no-sudo", "denied by rule 'no-sudo'"),
    Attempt("if true; then sudo id; fi", "no-sudo", "denied by rule 'no-sudo'"),
    Attempt("f() { sudo id; }; f", "no-sudo", "denied by rule 'no-sudo'"),
    Attempt("bash -c 'cat ~/secret.txt'", "no-secret", "denied by rule 'no-secret'"),
    Attempt("sh -c \"bash -c 'rm -rf /'\"", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("bash -o posix -c 'cat ~/secret.txt'", "undecidable", "option '-o'"),
    Attempt("bash - -c id", "undecidable", "would read commands from stdin or a file"),
    Attempt("r\\\nm -rf /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("echo x#y; sudo id", "no-sudo", "denied by rule 'no-sudo'"),
    Attempt("toybox rm -rf /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("echo id | at now", "undecidable", "`at` is an interpreter"),
    Attempt("for PATH in /tmp; do id; done", "undecidable", "assigning PATH"),
    Attempt("read PATH; id", "undecidable", "assigning PATH"),
    Attempt("trap 'cat ~/secret.txt' EXIT", "undecidable", "`trap` runs code"),
    Attempt("/bin/r? -rf /", "no-secret", "glob `?`"),
    Attempt("x=$(rm -rf /) id", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("cat <<< $(sudo id)", "no-sudo", "denied by rule 'no-sudo'"),
    Attempt("env - rm -rf /", "no-rm-root", "denied by rule 'no-rm-root'"),
    Attempt("su -c id -c 'sudo id'", "no-sudo", "denied by rule 'no-sudo'"),
    Attempt("echo id | su", "undecidable", "`su` without -c starts a shell"),
    Attempt("ssh -p 22 -o BatchMode=yes localhost 'cat ~/secret.tx?'", "no-secret", "glob `?`"),
    Attempt("ssh localhost", "undecidable", "`ssh` without a command"),
    Attempt("bash -s < /dev/null", "undecidable", "would read commands from stdin"),
    Attempt("echo cat ~/secret.txt | sh", "undecidable", "`sh` would read commands from stdin"),
    Attempt("python3 -c 'print(open(\"x\").read())'", "undecidable", "`python3` is an interpreter"),
    Attempt("awk 'BEGIN{system(\"id\")}'", "undecidable", "`awk` is an interpreter"),
    Attempt("psql", "undecidable", "`psql` is an interpreter"),
    Attempt("eval 'cat ~/secret.txt'", "undecidable", "`eval` runs code"),
    Attempt(". ./script", "undecidable", "`.` runs code"),
    Attempt("PATH=/tmp id", "undecidable", "assigning PATH"),
    Attempt("export PATH=/tmp; id", "undecidable", "assigning PATH"),
    Attempt("env LD_PRELOAD=/tmp/x.so id", "undecidable", "assigning LD_PRELOAD"),
    Attempt("cat <<EOF\nx\nEOF", "undecidable", "here-document"),
    Attempt("echo $((1+2))", "undecidable", "not supported by the parser"),
    Attempt("cat ~/secret.txt )", "undecidable", "the shell parser rejects it"),
    Attempt("passwd", "passwd-needs-approval", "needs an approval"),
)
"""Each is refused: deny, except the approval rule's case."""

ALLOWED: tuple[str, ...] = (
    "id",
    "echo hello | tr a-z A-Z",
    "rm -rf /tmp/gatehouse-not-there",
    "rm -f /",
    "cat /etc/hostname; uname -s",
    "echo 'rm -rf /' > /dev/null",
    "echo 'sudo is a word'",
    "echo $ 100",
    "find /tmp -maxdepth 0 -name x",
    "LANG=C id",
    "bash -c 'id -un'",
    "[ -f /etc/hostname ] && echo yes",
    "ssh -p 22 localhost id",
)
"""Commands the same policy lets through."""
