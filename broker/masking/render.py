"""Rendering masked output on the hot path: replacements, proofs and events for many values.

Pure functions over bytes; the engine (``MaskingEngine.render_hits``) calls them for text
without escape sequences, which is where nearly all masked values are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from broker.masking.events import MaskEvent
from broker.masking.policy import Strategy
from broker.masking.scan import Hit
from broker.masking.unisep import without_separators

Look = tuple[Strategy, bytes, bool]
"""A detector's strategy, fixed replacement (``b""`` unless ``redact``), and whether its proof
drops separators."""

NORMALISE_SEPARATORS = b" -."
_new_tuple = tuple.__new__


class ProofCache:
    """Proofs of the values one stream masked lately, by the value's ``hash()``: a value a
    session shows again and again (a user's address in every log line) is hashed once.

    Keyed by Python's keyed 64-bit hash of the value, never by the value, so no masked value is
    kept; a collision (about 2**-50 per look-up at the bound) would give a wrong proof, never an
    unmasked value. Bounded: emptied when ``MAX`` proofs are held.
    """

    MAX = 16384

    def __init__(self) -> None:
        self._proofs: dict[int, str] = {}

    def reset_if_full(self) -> dict[int, str]:
        """The proofs, emptied first when they reached ``MAX``."""
        if len(self._proofs) >= self.MAX:
            self._proofs.clear()
        return self._proofs


def render_plain(
    data: bytes,
    hits: list[Hit],
    lo: int,
    hi: int,
    stream: str,
    stream_offset: int,
    events: list[MaskEvent],
    digests: dict[int, str],
    looks: dict[str, Look],
    mac_copy: Callable[[], Any],
) -> bytes:
    """Render ``data[lo:hi]`` (no escape sequences in it) with ``hits`` replaced: one pass per
    value, appending one ``MaskEvent`` each.

    ``looks`` holds every hit's detector (the engine fills it for its policy's detectors).
    Proofs are cached in ``digests`` by the hash of the bytes they prove (see ``ProofCache``);
    the replacement of a ``partial`` or ``hash`` strategy is built from the value and proof.
    """
    out: list[bytes] = []
    put = out.append
    add = events.append
    cursor = lo
    make = _new_tuple
    event_type = MaskEvent
    skip = NORMALISE_SEPARATORS
    for span_start, span_end, det in hits:
        start = span_start if span_start > lo else lo
        end = span_end if span_end < hi else hi
        if end <= start:
            continue
        name = det.name
        strategy, fixed, numeric = looks[name]
        value = data[span_start:span_end]
        proved = without_separators(value).translate(None, skip) if numeric else value
        key = hash(proved)
        digest = digests.get(key)
        if digest is None:
            mac = mac_copy()
            mac.update(proved)
            digest = digests[key] = mac.hexdigest()
        put(data[cursor:start])
        put(fixed or replacement(name, strategy, value, digest))
        add(make(event_type, (name, strategy, stream, stream_offset + start, end - start, digest)))
        cursor = end
    put(data[cursor:hi])
    return b"".join(out)


def replacement(name: str, strategy: str, value: bytes, digest: str) -> bytes:
    """The visible replacement for a value.

    ``redact`` → ``[MASKED:name]``; ``partial`` → ``[MASKED:...1111]`` (last four kept when the
    value has at least eight; otherwise nothing kept); ``hash`` → ``[HASH:<12 hex>]``.
    """
    if strategy == "hash":
        return b"[HASH:" + digest[:12].encode("ascii") + b"]"
    if strategy == "partial":
        visible = bytes(b for b in value if 0x21 <= b <= 0x7E and b != 0x2D)
        keep = visible[-4:] if len(visible) >= 8 else b""
        return b"[MASKED:..." + keep + b"]"
    return b"[MASKED:" + name.encode("ascii", "replace") + b"]"
