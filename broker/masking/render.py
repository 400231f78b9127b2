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


Digests = tuple[dict[int, str], dict[int, str]]
"""Proofs by the ``hash()`` of the value as written: of values proved as they are, and of
numeric values (proved without their separators)."""


class ProofCache:
    """Proofs of the values one stream masked lately, by the value's ``hash()``: a value a
    session shows again and again (a user's address in every log line) is hashed once.

    Keyed by Python's keyed 64-bit hash of the value as written, never by the value, so no
    masked value is kept; a collision (about 2**-50 per look-up at the bound) would give a wrong
    proof, never an unmasked value. Numeric values have their own table (their proof drops
    separators, so the same bytes prove differently). Bounded: emptied when ``MAX`` proofs are
    held.
    """

    MAX = 16384

    def __init__(self) -> None:
        self._proofs: Digests = ({}, {})

    def reset_if_full(self) -> Digests:
        """The proofs, emptied first when they reached ``MAX``."""
        plain, numeric = self._proofs
        if len(plain) + len(numeric) >= self.MAX:
            plain.clear()
            numeric.clear()
        return self._proofs


def render_plain(
    data: bytes,
    hits: list[Hit],
    lo: int,
    hi: int,
    stream: str,
    stream_offset: int,
    events: list[MaskEvent],
    digests: Digests,
    looks: dict[str, Look],
    mac_copy: Callable[[], Any],
) -> bytes:
    """Render ``data[lo:hi]`` (no escape sequences in it) with ``hits`` replaced: one pass per
    value, appending one ``MaskEvent`` each.

    ``looks`` holds every hit's detector (the engine fills it for its policy's detectors).
    Proofs are cached in ``digests`` by the hash of the value as written (see ``ProofCache``;
    separators are dropped only when a numeric value's proof is computed); the replacement of
    a ``partial`` or ``hash`` strategy is built from the value and proof.
    """
    if hits and (hits[0][0] < lo or hits[-1][1] > hi):
        return _render_clamped(
            data, hits, lo, hi, stream, stream_offset, events, digests, looks, mac_copy
        )
    out: list[bytes] = []
    put = out.append
    add = events.append
    cursor = lo
    make = _new_tuple
    event_type = MaskEvent
    skip = NORMALISE_SEPARATORS
    plain, numbers = digests
    for start, end, det in hits:  # all inside lo:hi (sorted, not empty, not overlapping)
        name = det.name
        strategy, fixed, numeric = looks[name]
        value = data[start:end]
        key = hash(value)
        digest = (numbers if numeric else plain).get(key)
        if digest is None:
            mac = mac_copy()
            mac.update(without_separators(value).translate(None, skip) if numeric else value)
            digest = (numbers if numeric else plain)[key] = mac.hexdigest()
        put(data[cursor:start])
        put(fixed or replacement(name, strategy, value, digest))
        add(make(event_type, (name, strategy, stream, stream_offset + start, end - start, digest)))
        cursor = end
    put(data[cursor:hi])
    return b"".join(out)


def _render_clamped(
    data: bytes,
    hits: list[Hit],
    lo: int,
    hi: int,
    stream: str,
    stream_offset: int,
    events: list[MaskEvent],
    digests: Digests,
    looks: dict[str, Look],
    mac_copy: Callable[[], Any],
) -> bytes:
    """``render_plain`` when a value begins before ``lo`` or ends after ``hi``: only its part
    inside is replaced (the proof is of the whole value)."""
    out: list[bytes] = []
    put = out.append
    add = events.append
    cursor = lo
    make = _new_tuple
    event_type = MaskEvent
    skip = NORMALISE_SEPARATORS
    plain, numbers = digests
    for span_start, span_end, det in hits:
        start = span_start if span_start > lo else lo
        end = span_end if span_end < hi else hi
        if end <= start:
            continue
        name = det.name
        strategy, fixed, numeric = looks[name]
        value = data[span_start:span_end]
        key = hash(value)
        cache = numbers if numeric else plain
        digest = cache.get(key)
        if digest is None:
            mac = mac_copy()
            mac.update(without_separators(value).translate(None, skip) if numeric else value)
            digest = cache[key] = mac.hexdigest()
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
