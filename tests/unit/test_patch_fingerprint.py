"""broker/patches/fingerprint.py: which methods a patch depends on, and when they changed."""

from __future__ import annotations

import pytest

from broker.patches.fingerprint import differences, fingerprint

SOURCE = """
class Conn:
    def __init__(self):
        self._seq = 0

    def reads(self):
        return self._seq + 1

    def bumps(self):
        self._seq += 1

    def drops(self):
        del self._seq

    def stores_item(self, k):
        self._table[k] = 1

    def appends(self, x):
        self._queue.append(x)

    def unrelated(self):
        self._other = 1

if True:
    class Cipher:
        def rotate(self):
            self._iv = b""

class Ignored:
    def writes(self):
        self._seq = 5
"""
ATTRS = frozenset({"_seq", "_table", "_queue", "_iv"})
CLASSES = {"m": ["Conn", "Cipher"]}


def prints(source: str = SOURCE, relied_on: tuple[str, ...] = ("m.Conn.reads",)) -> dict[str, str]:
    return fingerprint({"m": source}, CLASSES, relied_on, ATTRS)


def test_relied_on_methods_and_every_writer_of_an_attribute_are_fingerprinted() -> None:
    assert sorted(prints()) == [
        "m.Cipher.rotate",
        "m.Conn.__init__",
        "m.Conn.appends",
        "m.Conn.bumps",
        "m.Conn.drops",
        "m.Conn.reads",
        "m.Conn.stores_item",
    ]


def test_a_relied_on_method_that_is_gone_is_missing() -> None:
    assert prints(relied_on=("m.Conn.vanished",))["m.Conn.vanished"] == "missing"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("return self._seq + 1", "return self._seq + 2"), ["m.Conn.reads changed"]),
        (('self._iv = b""', 'self._iv = b"x"'), ["m.Cipher.rotate changed"]),
        (("self._other = 1", "self._seq = 1"), ["m.Conn.unrelated is new"]),
        (
            ("    def bumps(self):\n        self._seq += 1\n", ""),
            ["m.Conn.bumps no longer relied on"],
        ),
        (("self._other = 1", "self._other = 2"), []),
        (("self._seq = 5", "self._seq = 6"), []),
    ],
)
def test_differences_name_what_changed(edit: tuple[str, str], expected: list[str]) -> None:
    old, new = edit
    assert old in SOURCE
    assert differences(prints(), prints(SOURCE.replace(old, new, 1))) == expected


def test_a_comment_or_blank_line_elsewhere_in_the_module_changes_nothing() -> None:
    assert prints("# header\n" + SOURCE + "\n# trailer\n") == prints()
