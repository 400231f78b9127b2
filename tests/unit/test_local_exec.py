"""What a local connection executes, as whom, with which environment; checked credentials."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace

import pytest

from broker.common.accounts import Account, lookup_account
from broker.common.errors import PolicyDenied, UpstreamError
from broker.config.local import LocalSettings
from broker.config.model import Connection
from broker.upstream.local import open_local
from broker.upstream.localexec import ChildPlan, command_argv, plan_child, verify_credentials
from tests.harness.accounts import ensure_local_account

ROOT = Account("root", 0, 0, (0,), "/root", "/bin/bash")
BROKER = Account("gatehouse", 990, 990, (990,), "/var/lib/gatehouse", "/usr/sbin/nologin")
TOOLS = Account("gh-tools", 991, 991, (4, 991), "/nonexistent/gh-tools", "/bin/bash")
BROKER_ENV = {
    "LANG": "C.UTF-8",
    "TZ": "UTC",
    "PATH": "/opt/broker/venv/bin:/usr/bin",
    "HOME": "/root",
    "PYTHONPATH": "/opt/broker",
    "GATEHOUSE_CONFIG": "/etc/gatehouse/gatehouse.yaml",
    "SSH_AUTH_SOCK": "/tmp/agent.sock",
}


def logs(accepts: str) -> Connection:
    return Connection(
        name="logs",
        type="local",
        command=("less", "app.log"),
        local=LocalSettings(run_as="gh-tools", accepts=accepts),  # type: ignore[arg-type]
    )


def test_a_terminal_runs_the_command_as_configured() -> None:
    for accepts in ("none", "shell", "args"):
        assert command_argv(logs(accepts), None) == ("less", "app.log")


def test_no_command_is_refused_with_a_message() -> None:
    with pytest.raises(PolicyDenied, match=r"connection 'logs' takes no command; open it with"):
        command_argv(logs("none"), "/etc/hostname")


def test_shell_mode_hands_the_command_to_the_shell() -> None:
    conn = replace(logs("shell"), command=("bash", "--norc"))
    assert command_argv(conn, "echo $HOME; id") == ("bash", "--norc", "-c", "echo $HOME; id")


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("/etc/hostname", ("less", "app.log", "/etc/hostname")),
        ("-N 'two words' $(id)", ("less", "app.log", "-N", "two words", "$(id)")),
        ("a;b", ("less", "app.log", "a;b")),
        ("", ("less", "app.log")),
    ],
)
def test_args_mode_appends_words_and_never_dash_c(command: str, argv: tuple[str, ...]) -> None:
    assert command_argv(logs("args"), command) == argv


def test_args_mode_refuses_what_cannot_be_split() -> None:
    with pytest.raises(PolicyDenied, match="cannot be split"):
        command_argv(logs("args"), "'unclosed")


def plan(account: Account, broker: Account, **kw: object) -> ChildPlan:
    options: dict[str, object] = {
        "via": "setuid",
        "unsafe_broker_user": False,
        "term_type": "xterm",
        "broker_env": BROKER_ENV,
        "setpriv": "/usr/bin/setpriv",
    }
    options.update(kw)
    return plan_child(("less", "app.log"), account, broker, **options)  # type: ignore[arg-type]


def test_root_broker_drops_to_the_account_with_a_fresh_environment() -> None:
    child = plan(TOOLS, ROOT)
    assert child.drop_to == TOOLS
    assert child.argv == ("/usr/bin/setpriv", "--no-new-privs", "--", "less", "app.log")
    assert child.expect == TOOLS
    assert child.cwd == "/"  # its home does not exist
    assert child.env == {
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/nonexistent/gh-tools",
        "USER": "gh-tools",
        "LOGNAME": "gh-tools",
        "SHELL": "/bin/bash",
        "TERM": "xterm",
    }


@pytest.mark.parametrize(
    ("account", "broker", "kw", "message"),
    [
        (ROOT, ROOT, {}, "as root"),
        (ROOT, BROKER, {"via": "sudo"}, "as root"),
        (BROKER, BROKER, {}, "broker's own account"),
        (TOOLS, BROKER, {}, "cannot start a process as 'gh-tools'"),
        (TOOLS, ROOT, {"setpriv": None}, "setpriv"),
        (replace(TOOLS, group_names=("gh-tools", "disk")), ROOT, {}, "it is in disk"),
        (replace(TOOLS, groups=(0, 991)), ROOT, {}, "it is in gid 0"),
        (TOOLS, BROKER, {"via": "sudo", "setpriv": None}, "setpriv"),
    ],
)
def test_refused(account: Account, broker: Account, kw: dict[str, object], message: str) -> None:
    with pytest.raises(UpstreamError, match=message):
        plan(account, broker, **kw)


def test_unsafe_flag_runs_as_the_broker_without_switching() -> None:
    child = plan(BROKER, BROKER, unsafe_broker_user=True)
    assert child.drop_to is None
    assert child.argv == ("less", "app.log")


def test_sudo_when_configured_and_not_root() -> None:
    child = plan(TOOLS, BROKER, via="sudo")
    argv = child.argv
    assert argv[:8] == ("sudo", "-n", "-u", "gh-tools", "--", "/usr/bin/env", "-i", "--chdir=/")
    assert argv[-5:] == ("/usr/bin/setpriv", "--no-new-privs", "--", "less", "app.log")
    assert "USER=gh-tools" in argv
    assert not any(word.startswith(("PYTHONPATH=", "GATEHOUSE_", "SSH_AUTH")) for word in argv)
    assert child.drop_to is None


@pytest.fixture
def account() -> Account:
    name = ensure_local_account()
    found = lookup_account(name)
    assert found is not None
    return found


def test_credentials_are_read_back(account: Account) -> None:
    child = subprocess.Popen(
        ["sleep", "30"],
        user=account.uid,
        group=account.gid,
        extra_groups=list(account.groups),
    )
    try:
        verify_credentials(child.pid, account)
        with pytest.raises(UpstreamError, match="groups"):
            verify_credentials(child.pid, replace(account, groups=(*account.groups, 0)))
        with pytest.raises(UpstreamError, match="uids"):
            verify_credentials(os.getpid(), account)  # this process is root
    finally:
        child.kill()
        child.wait()


def test_a_missing_program_is_named() -> None:
    conn = replace(logs("none"), command=("no-such-program-x1",))
    with pytest.raises(UpstreamError, match=r"logs: cannot start 'no-such-program-x1': no such"):
        open_local(conn, None, lambda data, stderr: None, term_type=None, size=(80, 24))
