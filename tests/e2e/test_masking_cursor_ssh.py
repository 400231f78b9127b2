"""Hostile end to end: a target draws card numbers with cursor moves; no screen shows one.

A real sshd target prints, through `printf`, cards whose bytes never hold the number in one
piece: a wrong last digit overwritten after a backspace, the tail written before the head
with ``CSI n G``, pieces placed after CR with ``CSI n C``, in a terminal session (an OpenSSH
client in tmux) and in a `run` (its output fed to pyte, as a terminal would show it). The
tmux screen, the replayed recordings and every file the broker wrote must hold no card.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import pyte
import pytest

from tests.harness.sshd import SshdTarget
from tests.harness.tmux import TmuxClient
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: eng, groups: [engineers], connections: ["*"], action: allow}
masking:
  detectors: {enable: all, disable: [ipv4, ipv6]}
"""
CARDS = {
    "backspace": "4111 1111 1111 1111",
    "absolute": "5555 5555 5555 4444",
    "forward": "5105 1051 0510 5100",
    "wrapped": "4012 8888 8888 1881",
}
PROMPT = re.compile(r"gh-target@\S+:~\$\s*$", re.M)


def _printf(fmt: str) -> str:
    """A printf command for ``fmt`` in which no two digits of a card are next to each other
    on the command line (its digits are passed as %s arguments one group at a time)."""
    groups = re.findall(r"\d+", fmt)
    template = re.sub(r"\d+", "%s", fmt)
    return f"printf '{template}' " + " ".join(f"'{g}'" for g in groups)


def drawings(cols: int) -> list[str]:
    """Shell commands, each drawing one card out of order, then a marker line."""
    b, a, f, w = (CARDS[k].split(" ") for k in ("backspace", "absolute", "forward", "wrapped"))
    return [
        # the last digit wrong, then backspace and the right one
        _printf(f"bs {b[0]} {b[1]} {b[2]} {b[3][:3]}X") + "; printf '\\b1\\r\\n'",
        # the tail first at column 10, then CSI 5 G and the head
        "printf 'abs \\033[10G'; "
        + _printf(f"{a[1]} {a[2]} {a[3]}")
        + "; printf '\\033[5G'; "
        + _printf(f"{a[0]} ")
        + "; printf '\\r\\n'",
        # CR, then CSI 9 C to leave room for the head, then CR and the head
        "printf 'fw \\r\\033[8C'; "
        + _printf(f"{f[1]} {f[2]} {f[3]}")
        + "; printf '\\r\\033[3C'; "
        + _printf(f"{f[0]} ")
        + "; printf '\\r\\n'",
        # a row filled to the margin: the card is drawn on the row it wraps onto
        f"printf '%{cols}s' x; printf '%15s'; "
        + _printf(f"{w[3]}")
        + "; printf '\\033[1G'; "
        + _printf(f"{w[0]} {w[1]} {w[2]} ")
        + "; printf '\\r\\n'",
    ]


def card_shown(text: str) -> str | None:
    """The card ``text`` shows, if any (separators dropped: a person reads past them)."""
    squashed = re.sub(r"[ \-]", "", text)
    for card in CARDS.values():
        if card.replace(" ", "") in squashed:
            return card
    return None


@pytest.fixture(scope="module")
def broker(sshd_target: SshdTarget) -> Iterator[BrokerProcess]:
    conn = sshd_target.connection()
    proc = BrokerProcess({"alice": ["engineers"]}, {"web": conn}, POLICY)
    proc.set_secret("web", sshd_target.client_key.read_bytes())
    with proc:
        yield proc


def test_cards_drawn_with_cursor_moves_never_show_in_a_terminal_session(
    broker: BrokerProcess, tmux_client: Callable[..., TmuxClient]
) -> None:
    client = tmux_client(broker.ssh("alice", "connect", "web", tty=True), cols=80)
    client.wait_for(PROMPT, timeout=15)
    for n, command in enumerate(drawings(80)):
        client.send_text(f"{command}; echo drawn-$(({n}+100))\n")
        client.wait_for(f"drawn-{n + 100}")
        shown = client.capture()
        assert card_shown(shown) is None, shown
    assert client.capture().count("[MASKED") >= len(CARDS)
    client.send_text("exit\n")
    assert client.wait_exit(timeout=10) == 0


def test_cards_drawn_with_cursor_moves_never_show_after_a_run(broker: BrokerProcess) -> None:
    command = "; ".join(drawings(80)[:3])  # a `run` has no known width: no wrapped row
    result = broker.run_ssh("alice", "run", "web", "--", command)
    assert result.returncode == 0, result.stderr
    screen = pyte.Screen(80, 24)
    pyte.ByteStream(screen).feed(result.stdout.replace(b"\n", b"\r\n"))
    shown = "\n".join(screen.display)
    assert card_shown(shown) is None, shown
    assert shown.count("[MASKED") >= 3, shown


def test_no_recording_or_file_shows_a_drawn_card(broker: BrokerProcess) -> None:
    recordings = sorted((broker.dir / "state" / "recordings").glob("*.cast"))
    assert len(recordings) >= 2
    for cast in recordings:
        show = broker.cli("recordings", "show", cast.stem, "--json")
        assert show.returncode == 0, show.stderr.decode()
        duration = json.loads(show.stdout)["duration"]
        for at in sorted({duration / 2, duration}):
            screen = broker.cli("recordings", "screen", cast.stem, "--at", f"{at:.3f}")
            assert screen.returncode == 0, screen.stderr.decode()
            assert card_shown(screen.stdout.decode()) is None, screen.stdout.decode()
    written = [p for p in broker.dir.rglob("*") if p.is_file() and "_ed25519" not in p.name]
    for path in written:
        data = path.read_bytes().decode("utf-8", "replace")
        for card in CARDS.values():
            assert card not in data, path
            assert card.replace(" ", "") not in data, path
