"""Hostile: output that the masker passes but a terminal assembles into a card number.

The masker looks at the byte stream; the user's terminal (and the recording's search text,
made by emulating the screen) shows what the bytes *draw*. A target that draws a card number
with a backspace, a cursor jump or non-breaking spaces gets it past the masker, onto the
user's screen and into the recording on disk.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyte
import pytest

from tests.harness.accounts import local_connection
from tests.support.broker import BrokerProcess
from tests.support.waiting import wait_until

POLICY = """\
access:
  - {name: all, groups: [engineers], connections: ["*"], action: allow}
masking:
  detectors: {enable: all, disable: [ipv4, ipv6]}
"""
CARD = "4111 1111 1111 1111"

DRAWINGS = {
    # "…111X", backspace, "1": the X is overwritten, the screen shows the whole card
    "backspace": r"printf '4111 1111 1111 111X\b1\n'",
    # the second half first at column 11, then the first half at column 1
    "cursor-jump": r"printf '\033[11G1111 1111\033[1G4111 1111 \n'",
    # carriage return: a harmless line, then the card's tail over it
    "carriage-return": r"printf '4111 1111 xxxx xxxx\r\033[10C1111 1111\n'",
}


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    proc = BrokerProcess(
        {"alice": ["engineers"]}, {"shell": local_connection(["bash", "--norc"])}, POLICY
    )
    with proc:
        yield proc


def screen_of(output: bytes) -> str:
    """What a terminal shows after ``output`` (as the user's own terminal would draw it)."""
    screen = pyte.Screen(80, 24)
    stream = pyte.ByteStream(screen)
    stream.feed(output.replace(b"\n", b"\r\n"))
    return "\n".join(line.rstrip() for line in screen.display)


@pytest.mark.parametrize("name", sorted(DRAWINGS))
def test_card_drawn_on_screen_is_masked(broker: BrokerProcess, name: str) -> None:
    result = broker.run_ssh("alice", "run", "shell", "--", DRAWINGS[name])
    assert result.returncode == 0, result.stderr
    # the control: the plain card is masked
    assert CARD not in screen_of(result.stdout), f"{name}: the user's screen shows the card"


@pytest.mark.parametrize("name", sorted(DRAWINGS))
def test_card_drawn_on_screen_never_reaches_the_recording(broker: BrokerProcess, name: str) -> None:
    recordings = broker.dir / "state" / "recordings"
    before = set(recordings.glob("*.txt"))
    result = broker.run_ssh("alice", "run", "shell", "--", DRAWINGS[name])
    assert result.returncode == 0, result.stderr
    new = wait_until(
        lambda: set(recordings.glob("*.txt")) - before, 10, "the run's recording on disk"
    )
    for path in new:
        assert CARD not in path.read_text(errors="replace"), f"{name}: {path.name} holds the card"


def test_card_with_no_break_spaces_is_masked(broker: BrokerProcess) -> None:
    """U+00A0 between the groups looks like a space on every terminal."""
    result = broker.run_ssh(
        "alice", "run", "shell", "--", r"printf '4111\302\2401111\302\2401111\302\2401111\n'"
    )
    assert result.returncode == 0, result.stderr
    shown = screen_of(result.stdout).replace("\u00a0", " ")
    assert CARD not in shown


def test_control_plain_card_is_masked(broker: BrokerProcess) -> None:
    result = broker.run_ssh("alice", "run", "shell", "--", f"printf '{CARD}\\n'")
    assert result.returncode == 0, result.stderr
    assert CARD not in screen_of(result.stdout)
    assert b"MASKED" in result.stdout
