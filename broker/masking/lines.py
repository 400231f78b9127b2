"""Masking what the broker writes itself (command lines, audit details, markers), with proofs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from broker.common.errors import MaskingError
from broker.masking.engine import MaskingEngine

WITHHELD = "[gatehouse: withheld: masking failed]"
"""What is written in place of a text that could not be masked (fail closed)."""
BROKER_FIELDS = frozenset(
    {"session", "sha256", "recording_sha256", "value_hmacs", "client", "host", "policy"}
)
"""Detail keys whose values the broker made itself (ids, hashes, addresses): never masked, so
a detector cannot blur an id or a proof."""


@dataclass(frozen=True)
class Proof:
    """One masked value's keyed proof: an auditor with a candidate value can confirm it."""

    detector: str
    """The detector that matched."""
    value_hmac: str
    """Keyed BLAKE2b of the value under the deployment's masking key (as in masking.summary)."""


@dataclass(frozen=True)
class MaskedText:
    """A text as the broker may write it, and the proofs of what was masked in it."""

    text: str
    """The masked text."""
    proofs: tuple[Proof, ...] = ()
    """One per masked value, in order."""


LineMask = Callable[[str], MaskedText]
"""Masks one whole text (a command line, an error) with the policy of its session."""


def unmasked(text: str) -> MaskedText:
    """The identity :data:`LineMask` (no masking configured)."""
    return MaskedText(text)


def line_masker(engine: MaskingEngine, *, stream: str = "line") -> LineMask:
    """A :data:`LineMask` over ``engine``; a text it cannot mask is withheld (fail closed)."""

    def mask(text: str) -> MaskedText:
        try:
            masked, events = engine.mask_text(text, stream=stream)
        except MaskingError:
            return MaskedText(WITHHELD)
        return MaskedText(masked, tuple(Proof(e.detector, e.value_hmac) for e in events))

    return mask


def proof_table(proofs: tuple[Proof, ...]) -> dict[str, list[str]]:
    """Proofs as an audit record carries them: ``{detector: [value_hmac, ...]}``."""
    table: dict[str, list[str]] = {}
    for proof in proofs:
        table.setdefault(proof.detector, []).append(proof.value_hmac)
    return table


def mask_details(details: Mapping[str, Any], mask: LineMask) -> dict[str, Any]:
    """``details`` with every text masked, and the proofs under ``masked`` (if any).

    Nested mappings and lists are walked; values under :data:`BROKER_FIELDS` are kept.
    """
    proofs: list[Proof] = []

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            done = mask(value)
            proofs.extend(done.proofs)
            return done.text
        if isinstance(value, Mapping):
            return {k: v if k in BROKER_FIELDS else walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    out: dict[str, Any] = walk(details)
    if proofs:
        out["masked"] = proof_table(tuple(proofs))
    return out


class MaskingLogFilter(logging.Filter):
    """Masks every log record's message (and its traceback) before a handler writes it.

    Log lines can quote what a target or a user sent (an error's text); the broker's log
    is a file on its disk like any other.
    """

    def __init__(self, mask: LineMask) -> None:
        super().__init__()
        self.mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = self.mask(record.getMessage()).text
        except Exception:  # a bad format: its arguments are not written either (fail closed)
            message = (
                f"[gatehouse: log message withheld: it cannot be formatted] {record.msg!s:.80}"
            )
            message = self.mask(message).text
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.mask(logging.Formatter().formatException(record.exc_info)).text
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info).text
        return True


def mask_logs(mask: LineMask, logger: logging.Logger | None = None) -> MaskingLogFilter:
    """Mask what every handler of ``logger`` (the root logger by default) writes."""
    log_filter = MaskingLogFilter(mask)
    for handler in (logger or logging.getLogger()).handlers:
        for old in [f for f in handler.filters if isinstance(f, MaskingLogFilter)]:
            handler.removeFilter(old)
        handler.addFilter(log_filter)
    return log_filter
