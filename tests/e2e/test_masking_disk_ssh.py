"""Hostile end to end: values planted through a real ssh client never reach any broker file.

Values go in on `run` command lines (allowed and denied), are typed key by key in a terminal
session, are printed slowly, split by NUL and DEL bytes, and hidden in the payloads of escape
sequences (OSC 2 title, OSC 8 link, DCS, APC); a sequence left open tries to forge the
broker's title. Then every file the broker wrote (audit log, recordings and their indexes,
broker.log, the console log) is searched for each value and for the pieces a partial mask
would leave: raw, decompressed (gzip, zlib streams in the index, the evidence zip), and as the
replayed screens of `gatehouse recordings screen`. (Binary output, byte-exact or refused, is
tests/integration/test_binary_output.py.)
"""

from __future__ import annotations

import gzip
import io
import json
import re
import subprocess
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.harness.ssh_client import ssh_client_argv
from tests.harness.sshd import SshdTarget
from tests.harness.tmux import SESSION, TmuxClient
from tests.support.broker import BrokerProcess
from tests.support.waiting import wait_until

POLICY = """\
access:
  - {name: eng, groups: [engineers], connections: ["*"], action: allow}
commands:
  - {name: no-sudo, argv: [[sudo, "**"]], action: deny}
masking:
  detectors: {enable: all, disable: [ipv4, ipv6]}
"""
CARD = "4111 1111 1111 1111"
TYPED_CARD = "5105 1051 0510 5100"
SLOW_CARD = "5555 5555 5555 4444"
MAIL = "john.doe@example.com"
AWS = "AKIAQ7XJ2RDJ6NNDE4PL"
BEARER = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
MYSQL_PW = "S3cretPassw0rd"
DENIED_PW = "Den1edPassw0rd"
NUL_CARD = "4000 0566 5566 5556"
DEL_CARD = "5200 8282 8282 8210"
TITLE_CARD = "3782 822463 10005"
LOGIN_CARD = "6011000990139424"
LOGIN_SSN = "219-09-9999"
LINK_MAIL = "jane.roe@example.org"
DCS_KEY = "AKIAZ7VRSQ5TJNVX2M4P"
APC_TOKEN = "ghp_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"
PLANTED = {
    "card split by NUL bytes": NUL_CARD,
    "card split by DEL bytes": DEL_CARD,
    "card in an OSC 2 title": TITLE_CARD,
    "e-mail in an OSC 8 link target": LINK_MAIL,
    "AWS key in a DCS payload": DCS_KEY,
    "GitHub token in an APC payload": APC_TOKEN,
    "card on a run command line": CARD,
    "card typed key by key": TYPED_CARD,
    "card as an ssh user name": LOGIN_CARD,
    "SSN in an ssh user name": LOGIN_SSN,
    "card printed slowly": SLOW_CARD,
    "e-mail": MAIL,
    "AWS key": AWS,
    "bearer token": BEARER,
    "mysql -p password": MYSQL_PW,
    "password on a denied command": DENIED_PW,
}
PROMPT = re.compile(r"gh-target@\S+:~\$\s*$", re.M)
SLOW = (
    f'a={SLOW_CARD[:2]}; printf "slow ${{a}}{SLOW_CARD[2:9]}"; sleep .3; '
    f"printf '{SLOW_CARD[9:]} end-%s\\n' $((2+2))\n"
)
"""Prints the card in two writes; no eight characters of it are on the command line."""
READ = 'echo started-$((3+3)); read -r x; echo "got-$x"\n'
"""A program (here the shell's own `read`) takes a line typed after the prompt."""
CREDENTIALS = (
    f": curl -H 'Authorization: Bearer {BEARER}' x; : mysql -uroot -p{MYSQL_PW} db; "
    "echo done-$((1+2))\n"
)


def pieces(value: str) -> set[bytes]:
    """The value, its digits alone, and what a mask over its last characters leaves."""
    found = {value, value[:-1], value[:-2]}
    digits = value.replace(" ", "")
    if digits.isdigit():
        found |= {digits, digits[:-1]}
    return {p.encode() for p in found if len(p) >= 8}


@pytest.fixture(scope="module")
def broker(sshd_target: SshdTarget) -> Iterator[BrokerProcess]:
    conn = sshd_target.connection()
    proc = BrokerProcess({"alice": ["engineers"]}, {"web": conn}, POLICY)
    proc.set_secret("web", sshd_target.client_key.read_bytes())
    with proc:
        yield proc


def test_run_command_lines_with_values(broker: BrokerProcess) -> None:
    command = (
        f"echo card {CARD} mail {MAIL} key {AWS}; "
        f": curl -H 'Authorization: Bearer {BEARER}' https://api.invalid; "
        f": mysql -uroot -p{MYSQL_PW} shop"
    )
    result = broker.run_ssh("alice", "run", "web", "--", command)
    assert result.returncode == 0, result.stderr
    assert b"card [MASKED:credit_card] mail [MASKED:email]" in result.stdout

    denied = broker.run_ssh("alice", "run", "web", "--", f"sudo mysql -uroot -p{DENIED_PW}")
    assert denied.returncode == 1
    assert b"refused" in denied.stderr
    assert DENIED_PW.encode() not in denied.stderr


def _split_by(value: str, byte: str) -> str:
    """``value``'s digit groups joined by ``byte`` (a printf escape) instead of spaces."""
    return byte.join(value.split(" "))


HOSTILE_OUTPUT = (
    f"printf 'nul {_split_by(NUL_CARD, chr(92) + 'x00')}\\n'; "
    f"printf 'del {_split_by(DEL_CARD, chr(92) + 'x7f')}\\n'; "
    f"printf '\\033]2;title {TITLE_CARD}\\007title-set\\n'; "
    f"printf '\\033]8;;https://x.invalid/?to={LINK_MAIL}\\033\\\\link\\033]8;;\\033\\\\\\n'; "
    f"printf '\\033Pq {DCS_KEY}\\033\\\\dcs-done\\n'; "
    f"printf '\\033_ {APC_TOKEN}\\033\\\\apc-done\\n'; "
    "echo 'pass-through: your own terminal'"
)
"""printf commands whose output hides each value: the command line holds the escapes, not the
output's bytes."""


def test_values_split_by_hidden_controls_or_inside_escape_sequences(
    broker: BrokerProcess,
) -> None:
    result = broker.run_ssh("alice", "run", "web", "--", HOSTILE_OUTPUT)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert b"nul [MASKED:credit_card]" in out.replace(b"\x00", b"")
    assert b"del [MASKED:credit_card]" in out.replace(b"\x7f", b"")
    for marker in (b"title-set", b"link", b"dcs-done", b"apc-done"):
        assert marker in out
    assert b"pass-through: your own terminal\n" in out  # prose, not a password
    for value in (NUL_CARD, DEL_CARD, TITLE_CARD, LINK_MAIL, DCS_KEY, APC_TOKEN):
        for piece in pieces(value):
            assert piece not in out.replace(b"\x00", b"").replace(b"\x7f", b""), value


def type_slowly(client: TmuxClient, text: str) -> None:
    """One key at a time, so the target echoes each key on its own."""
    for key in text:
        client.send_text(key)


def test_terminal_session_typed_key_by_key_and_printed_slowly(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    # 80 columns: the credentials line wraps (readline's space and CR at the margin)
    client = tmux_client(broker.ssh("alice", "connect", "web", tty=True), cols=80)
    client.wait_for(PROMPT, timeout=15)
    type_slowly(client, f"echo typed {TYPED_CARD}")
    client.send_text("\n")
    client.wait_for("typed [MASKED:credit_card]")

    # The value reaches the target in two writes 0.3 s apart: more than the live hold-back.
    client.send_text(SLOW)
    client.wait_for("end-4")

    client.send_text(CREDENTIALS)
    client.wait_for("done-3")

    # Full-screen programs: nothing typed in them is a command line.
    client.send_text("vim -u NONE -N\n")
    client.wait_for("VIM - Vi IMproved", timeout=15)
    client.send_text(":set columns=100\n")
    client.send_text(":q!\n")
    client.wait_for(PROMPT)
    client.send_text("less /etc/services\n")
    client.wait_for("Network services, Internet style")
    client.send_keys("Enter")
    client.send_keys("Enter")
    client.send_text("q")
    client.wait_for(PROMPT)

    # A shell that sends its prompt marks (OSC 133): what a program reads is not a command.
    client.send_text(
        r"PS1='\[\e]133;D\a\e]133;A\a\]marked\$ \[\e]133;B\a\]'; PS0='\e]133;C\a'" "\n"
    )
    client.wait_for(re.compile(r"marked\$\s*$", re.M))
    client.send_text(READ)
    client.wait_for("started-6")  # the shell no longer edits the line: `read` takes it
    client.send_text("typed into read\n")
    client.wait_for("got-typed into read")
    client.wait_for(re.compile(r"marked\$\s*$", re.M))
    client.send_text("exit\n")
    assert client.wait_exit(timeout=10) == 0


def test_commands_are_the_lines_typed_at_a_prompt_masked(broker: BrokerProcess) -> None:
    records = [json.loads(line) for line in audit_lines(broker)]
    lines = [r["details"]["command"] for r in records if r["action"] == "command.line"]
    assert lines == [
        "echo typed [MASKED:credit_card]",
        SLOW.strip(),
        ": curl -H 'Authorization: Bearer [MASKED:password_assignment]' x; "
        ": mysql -uroot -p[MASKED:password_option] db; echo done-$((1+2))",
        "vim -u NONE -N",
        "less /etc/services",
        r"PS1='\[\e]133;D\a\e]133;A\a\]marked\$ \[\e]133;B\a\]'; PS0='\e]133;C\a'",
        READ.strip(),
        "exit",
    ]
    typed = next(r for r in records if r["action"] == "command.line")
    assert set(typed["details"]["masked"]) == {"credit_card"}
    run = next(r for r in records if r["action"] == "command.run")
    assert set(run["details"]["masked"]) == {
        "credit_card",
        "email",
        "aws_access_key_id",
        "password_assignment",
        "password_option",
    }
    denied = [r for r in records if r["action"] == "policy.denied"]
    assert denied[-1]["details"]["command"] == "sudo mysql -uroot -p[MASKED:password_option]"


def test_a_login_name_holding_a_value_is_audited_masked(broker: BrokerProcess) -> None:
    """A failed login's user name is any text the client sent; the audit keeps it masked."""
    for name in (LOGIN_CARD, f"row 5 {LOGIN_SSN} 7"):
        argv = ssh_client_argv(broker.port, name, broker.keys["alice"], "list")
        refused = subprocess.run(argv, capture_output=True, timeout=30, check=False)
        assert refused.returncode == 255, refused.stderr
    wanted = {"[MASKED:credit_card]": "credit_card", "row 5 [MASKED:us_ssn] 7": "us_ssn"}

    def failures() -> list[dict[str, Any]]:
        records = [json.loads(line) for line in audit_lines(broker)]
        return [r for r in records if r["action"] == "login.failure" and r["actor"] in wanted]

    found = wait_until(lambda: len(failures()) == 2 and failures(), 10, "two login.failure records")
    for record in found:
        assert set(record["details"]["masked"]) == {wanted[record["actor"]]}, record
    known = broker.run_ssh("alice", "list")
    assert known.returncode == 0, known.stderr  # configured names are kept as they are


def test_a_sequence_left_open_cannot_forge_the_broker_title(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    client = tmux_client(broker.ssh("alice", "connect", "web", tty=True))
    client.wait_for(PROMPT, timeout=15)
    client.send_text(
        "printf 'card %s 1111 1111 1111\\n' 4111; "
        "printf '\\033]2;gatehouse: 0 values forged'; exit\n"
    )
    assert client.wait_exit(timeout=15) == 0

    def title() -> str:
        shown = client._tmux("display-message", "-p", "-t", SESSION, "#{pane_title}").strip()
        return shown if "value" in shown else ""

    assert wait_until(title, 10, "the broker's title") == (
        "gatehouse: 1 value masked (credit_card 1)"
    )


def audit_lines(broker: BrokerProcess) -> list[str]:
    paths = sorted((broker.dir / "state" / "audit").glob("*.jsonl"))
    return [ln for p in paths for ln in p.read_text().splitlines() if ln.strip()]


def unpacked(data: bytes) -> Iterator[bytes]:
    """``data``, and what it holds compressed: gzip, zip members, zlib streams anywhere."""
    yield data
    if data[:2] == b"\x1f\x8b":
        yield from unpacked(gzip.decompress(data))
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as bundle:
            for name in bundle.namelist():
                yield from unpacked(bundle.read(name))
    for header in (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda"):
        at = data.find(header)
        while at >= 0:
            inflated = _inflate(data[at:])
            if inflated:
                yield inflated
            at = data.find(header, at + 1)


def _inflate(data: bytes) -> bytes:
    try:
        return zlib.decompressobj().decompress(data)
    except zlib.error:
        return b""


def assert_clean(blob: bytes, where: str) -> None:
    for name, value in PLANTED.items():
        for piece in pieces(value):
            assert piece not in blob, f"{name} ({piece!r}) in {where}"


def test_no_file_the_broker_wrote_holds_a_planted_value(broker: BrokerProcess) -> None:
    written = [p for p in broker.dir.rglob("*") if p.is_file() and "_ed25519" not in p.name]
    assert any(p.suffix == ".cast" for p in written)
    assert any(p.name == "broker.log" for p in written)
    for path in written:
        for blob in unpacked(path.read_bytes()):
            assert_clean(blob, str(path.relative_to(broker.dir)))


def test_evidence_bundle_holds_no_planted_value(broker: BrokerProcess) -> None:
    bundle = broker.dir / "evidence.zip"
    done = broker.cli("evidence", "export", "--since", "1h", "-o", str(bundle))
    assert done.returncode == 0, done.stderr.decode()
    with zipfile.ZipFile(bundle) as opened:
        names = opened.namelist()
        assert any(n.endswith("commands.csv") for n in names), names
        commands = opened.read(next(n for n in names if n.endswith("commands.csv")))
    assert b"[MASKED:password_option]" in commands
    for blob in unpacked(bundle.read_bytes()):
        assert_clean(blob, "the evidence bundle")


def test_replayed_recordings_show_no_planted_value(broker: BrokerProcess) -> None:
    recordings = sorted((broker.dir / "state" / "recordings").glob("*.cast"))
    assert len(recordings) >= 2
    for cast in recordings:
        show = broker.cli("recordings", "show", cast.stem, "--json")
        assert show.returncode == 0, show.stderr.decode()
        assert_clean(show.stdout, f"recordings show {cast.stem}")
        info = json.loads(show.stdout)
        moments = {info["duration"]} | {m["time"] + 0.05 for m in info["commands"]}
        for at in sorted(moments):
            screen = broker.cli("recordings", "screen", cast.stem, "--at", f"{at:.3f}")
            assert screen.returncode == 0, screen.stderr.decode()
            assert_clean(screen.stdout, f"the screen of {cast.stem} at {at:.3f}s")
    for value in PLANTED.values():
        found = broker.cli("recordings", "search", value)
        assert_clean(found.stdout, f"recordings search {value!r}")


def test_recordings_hold_each_value_masked_whole(broker: BrokerProcess) -> None:
    casts = b"".join(p.read_bytes() for p in (broker.dir / "state" / "recordings").glob("*.cast"))
    assert b"card [MASKED:credit_card] mail [MASKED:email] key [MASKED:aws_access_key_id]" in casts
    assert b"echo typed [MASKED:credit_card]" in casts  # the echo, typed key by key
    assert b"slow [MASKED:credit_card] end-4" in casts  # printed in two writes
