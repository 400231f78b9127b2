"""Cells that are one e-mail address and nothing else, masked without running the engine.

A result column of addresses (``user@example.com`` in every row) costs the engine about 3.5 µs
a value (regex, left extension, merge, proof, event); the ``sql`` verb's whole budget is about
2 µs a row. A cell whose whole text has the shape below is masked by the engine as exactly one
``email`` value spanning the cell, so its masked form is the e-mail replacement of the cell:

* the detector's pattern, from the ``@``, matches to the cell's end: labels of at most 63
  characters, each followed by a dot, then a top-level domain of 2 to 63 letters at the end
  (the pattern is greedy and nothing follows); the address of a service (``git@github.com``,
  ``noreply@github.com``) is not a value, so a local part ``git`` or ``noreply`` is left to
  the engine;
* its left extension (up to 64 characters of the local part's class before the ``@``) reaches
  the cell's start: the local part is 1 to 64 characters of a subset of that class;
* every other match in the cell lies inside it and is merged into it; the group keeps the
  detector of its leftmost, longest match, and a detector ranked before ``email`` would have to
  match the whole cell, ``@`` included, which no built-in one does (their values exclude ``@``,
  or need a space, a quote, ``=`` or ``:``, none of which the shape has). So every detector
  ranked before ``email`` must be a built-in one; those after it (custom ones) are merged in.

``tests/unit/masking/test_sql_shapes.py`` checks the claim against the engine on generated
cells, hostile ones included (lengths at each bound, service addresses, card numbers and tokens
as local parts). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from broker.masking.builtin import BUILTIN_DETECTORS
from broker.masking.engine import MaskingEngine
from broker.masking.policy import Strategy

_ONE = (
    r"(?!(?i:git|noreply)@)[A-Za-z0-9._%+\-]{1,64}+@"
    r"(?:[A-Za-z0-9\-]{1,63}+\.)++[A-Za-z]{2,63}+"
)
EMAIL_CELL = re.compile(_ONE)
"""One cell that is one e-mail address (``fullmatch``)."""
EMAIL_COLUMN = re.compile(_ONE + r"(?:\n" + _ONE + r")*+")
"""Cells joined by newlines, each one e-mail address (``fullmatch``): one C-level pass."""
_BUILTIN = frozenset(id(d) for d in BUILTIN_DETECTORS)


def email_applies(engine: MaskingEngine) -> bool:
    """Whether ``engine`` masks e-mail addresses and ranks only built-in detectors before it."""
    for det in engine.policy.detectors:
        if id(det) not in _BUILTIN:
            return False
        if det.name == "email":
            return True
    return False


def mask_emails(
    engine: MaskingEngine, cells: Sequence[str], joined: str | None = None
) -> tuple[list[str | None], int]:
    """Each cell that is one e-mail address masked as the engine masks it; ``None`` for the
    cells the engine must read. Returns them and how many addresses were masked.

    ``joined`` is the cells joined by newlines, when the caller has it. The caller checks
    ``email_applies(engine)`` first.
    """
    if joined is None:
        joined = "\n".join(cells)
    if "@" not in joined:
        return [None] * len(cells), 0
    strategy = engine.policy.strategy_for("email")
    fixed = engine.replacement("email", "redact", b"", "").decode() if strategy == "redact" else ""
    if joined.count("\n") == len(cells) - 1 and EMAIL_COLUMN.fullmatch(joined):
        if fixed:
            return [fixed] * len(cells), len(cells)
        return [_one(engine, strategy, cell) for cell in cells], len(cells)
    shaped = [m is not None for m in map(EMAIL_CELL.fullmatch, cells)]
    out: list[str | None]
    if fixed:
        out = [fixed if s else None for s in shaped]
    else:
        out = [
            _one(engine, strategy, cell) if s else None
            for cell, s in zip(cells, shaped, strict=True)
        ]
    return out, sum(shaped)


def _one(engine: MaskingEngine, strategy: Strategy, cell: str) -> str:
    value = cell.encode("ascii")  # the shape is ASCII
    digest = engine.value_hmac(value) if strategy == "hash" else ""
    return engine.replacement("email", strategy, value, digest).decode("ascii")
