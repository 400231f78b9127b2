"""What the front door refuses by name, and what each refusal tells the person (pure)."""

from __future__ import annotations

import pytest

from broker.auditchain.events import Action, table_for
from broker.frontdoor.refusals import Refusal, exec_refusal, subsystem_refusal


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        ("scp -f /etc/hostname", "scp"),
        ("scp -t .", "scp"),
        ("rsync --server -vlogDtpre.iLsfxC . /tmp", "rsync"),
        ("/usr/lib/openssh/sftp-server", "/usr/lib/openssh/sftp-server"),
    ],
)
def test_file_transfer_commands_are_refused(command: str, kind: str) -> None:
    refusal = exec_refusal(command)
    assert refusal == Refusal(Action.TRANSFER_REFUSED, kind)
    assert "use `run CONN -- cat FILE` to read a file" in refusal.message


@pytest.mark.parametrize("command", ["run web-1 -- scp a b", "list", "help", "", "  ", "scpx"])
def test_broker_commands_are_not_transfers(command: str) -> None:
    assert exec_refusal(command) is None


def test_subsystems() -> None:
    sftp = subsystem_refusal("sftp")
    assert (sftp.kind, sftp.details) == ("sftp", {"kind": "sftp", "request": "sftp"})
    assert sftp.message.startswith("gatehouse: file transfer (scp, sftp) is not available")
    other = subsystem_refusal("x" * 500)
    assert other.kind == "subsystem"
    assert len(other.details["request"]) == 64
    assert other.message.startswith("gatehouse: subsystems are not available")


@pytest.mark.parametrize(
    ("kind", "named"),
    [
        ("local", "port forwarding (ssh -L, -D)"),
        ("remote", "remote port forwarding (ssh -R)"),
        ("unix", "Unix socket forwarding"),
        ("agent", "agent forwarding (ssh -A)"),
        ("x11", "X11 forwarding (ssh -X)"),
    ],
)
def test_forwarding_messages_say_what_is_allowed(kind: str, named: str) -> None:
    message = Refusal(Action.FORWARDING_REFUSED, kind).message
    assert message == (
        f"gatehouse: {named} is not available through the broker; open a session with "
        "`connect CONN` or run a command with `run CONN -- COMMAND`"
    )


def test_refusals_are_denials_in_the_evidence() -> None:
    assert table_for(Action.TRANSFER_REFUSED) == "denials"
    assert table_for(Action.FORWARDING_REFUSED) == "denials"
