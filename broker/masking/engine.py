"""The masking engine: find sensitive values in bytes and replace them, with proof events."""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

from broker.common.errors import MaskingError
from broker.masking.ansi import StripMap, escapes_in, strip_ansi
from broker.masking.detector import Detector, Trigger
from broker.masking.events import MaskEvent, MaskFailure, new_event
from broker.masking.hsprefilter import LITERAL_LED, make_prefilter
from broker.masking.policy import MaskingPolicy, Strategy
from broker.masking.render import NORMALISE_SEPARATORS as _NORMALISE_SEPARATORS
from broker.masking.render import ProofCache, render_plain, replacement
from broker.masking.scan import Found, Hit, Reach, merge_found, scan_detector
from broker.masking.unisep import ascii_separators, without_separators

_MAC_PERSON = b"gatehouse.mask.2"
"""BLAKE2b personalisation of value proofs (domain separation; 16 bytes)."""
_KEY_PERSON = b"gatehouse.mkey.2"
"""BLAKE2b personalisation used to shorten a masking key longer than 64 bytes."""
_new_tuple = tuple.__new__


@dataclass(frozen=True)
class Span:
    """A value to mask, in stripped-text coordinates."""

    start: int
    """First byte of the value."""
    end: int
    """One past the last byte."""
    detector: Detector
    """The detector that found it (the first one when overlapping matches were merged)."""


def _drops_separators(det: Detector) -> bool:
    """Whether a value's proof ignores separators (numeric personal data: ``4111-1111`` and
    ``4111 1111`` are the same card)."""
    return det.category == "pii" and det.name != "email"


class MaskingEngine:
    """Finds and replaces sensitive values according to a ``MaskingPolicy``.

    The engine is pure and reusable across sessions; per-stream state lives in ``StreamMasker``.
    """

    def __init__(
        self,
        policy: MaskingPolicy,
        *,
        key: bytes,
        on_error: Callable[[MaskFailure], None] | None = None,
    ) -> None:
        """Build an engine.

        Args:
            policy: The resolved masking policy.
            key: The deployment's masking key (at least 16 bytes) for value proofs (keyed BLAKE2b).
            on_error: Told about every failure of ``mask_text``/``mask_value``/``mask_bytes``.
        """
        if len(key) < 16:
            raise ValueError("masking key must be at least 16 bytes")
        self.policy = policy
        self._key = key
        self._on_error = on_error
        self._detectors = policy.detectors
        self._prefilter = make_prefilter(policy.detectors)
        # Literal-led detectors (tokens, e-mail, phone) first: their values often contain
        # digit runs that numeric detectors would otherwise validate for nothing (see ``scan``).
        ranked = list(enumerate(policy.detectors))
        self._scan_order = sorted(ranked, key=lambda rd: (rd[1].name not in LITERAL_LED, rd[0]))
        if len(key) > hashlib.blake2b.MAX_KEY_SIZE:
            key = hashlib.blake2b(key, person=_KEY_PERSON).digest()
        # Keyed BLAKE2b is a MAC (a PRF under the key) in one pass: half the cost of HMAC-SHA256.
        self._mac = hashlib.blake2b(key=key, digest_size=32, person=_MAC_PERSON)
        self._looks: dict[str, tuple[Strategy, bytes, bool]] = {}
        for det in policy.detectors:
            self._look(det)

    @property
    def unsafe_best_effort(self) -> bool:
        """True when failures pass data through unmasked instead of withholding it."""
        return self.policy.mode == "unsafe_best_effort"

    def find(self, text: bytes) -> list[Span]:
        """Return the values to mask in ``text``, overlapping matches merged, in order.

        Args:
            text: Visible text (escape sequences already stripped).
        """
        return [Span(start, end, det) for start, end, det in self.find_hits(text)]

    def find_hits(self, text: bytes) -> list[Hit]:
        """Like ``find``, as ``(start, end, detector)`` tuples (no objects per value).

        Unicode spaces and dashes read as ASCII ones (:mod:`broker.masking.unisep`)."""
        seps = ascii_separators(text)
        if seps is None:
            return self._find_hits(text)
        return [(seps.orig(s), seps.orig_end(e), d) for s, e, d in self._find_hits(seps.text)]

    def _find_hits(self, text: bytes) -> list[Hit]:
        lowered: bytes | None = None

        def lower() -> bytes:
            nonlocal lowered
            if lowered is None:
                lowered = text.lower()
            return lowered

        run_cache: dict[str, list[tuple[int, int, int, bool]]] = {}

        def runs(trigger: Trigger) -> list[tuple[int, int, int, bool]]:
            got = run_cache.get(trigger.name)
            if got is None:
                got = run_cache[trigger.name] = trigger.runs(text)
            return got

        found: Found = []
        reach: Reach = {}
        covered = self._prefilter.covered
        candidates = self._prefilter.candidates(text)
        active = candidates.active
        for rank, det in self._scan_order:
            if rank in covered:
                if rank not in active:
                    continue
                windows = candidates.windows(rank, reach)
                if windows is None:
                    continue
            else:
                windows = det.windows(text, lower, runs)
                if windows is None:
                    windows = [(0, len(text))]
            if windows:
                scan_detector(det, rank, text, windows, found, reach)
        if not found:
            return []
        if len(found) > 1:
            found.sort()
        return merge_found(found, self._detectors)

    def find_mapped(self, data: bytes, smap: StripMap) -> list[Hit]:
        """``find_hits`` on ``smap.text`` (the displayed text of ``data``).

        When hidden controls were taken out, the text is also read with each run of them as a
        separator (``4111\\x001111\\x7f1111 1111`` is a card either way a person reads it), and
        the values of both readings are masked.
        """
        hits = self.find_hits(smap.text)
        if not smap.hidden:
            return hits
        spaced = strip_ansi(data, hidden_as=b" ")
        more = self.find_hits(spaced.text)
        if not more:
            return hits
        size = len(smap.text)
        index = range(size + 1)
        for start, end, det in more:
            lo = bisect_left(index, spaced.orig(start), key=smap.orig)
            hi = bisect_left(index, spaced.orig_end(end), key=smap.orig)
            if lo < hi:
                hits.append((lo, hi, det))
        hits.sort(key=lambda h: (h[0], -h[1]))
        merged: list[Hit] = []
        for hit in hits:
            if merged and hit[0] < merged[-1][1]:
                last = merged[-1]
                if hit[1] > last[1]:
                    merged[-1] = (last[0], hit[1], last[2])
            else:
                merged.append(hit)
        return merged

    def value_hmac(self, value: bytes) -> str:
        """Hex keyed BLAKE2b-256 of ``value`` under the deployment key (domain-separated).

        The proof an auditor recomputes: ``blake2b(value, key=key, digest_size=32,
        person=b"gatehouse.mask.2")`` (a key over 64 bytes is first hashed to 64 bytes).
        """
        mac = self._mac.copy()
        mac.update(value)
        return mac.hexdigest()

    def proof(self, detector: Detector, value: bytes) -> str:
        """Proof (``value_hmac``) of a detected value, separators dropped for numeric personal data."""
        if _drops_separators(detector):
            value = without_separators(value).translate(None, _NORMALISE_SEPARATORS)
        return self.value_hmac(value)

    @staticmethod
    def replacement(name: str, strategy: Strategy, value: bytes, digest: str) -> bytes:
        """Return the visible replacement for a value (``render.replacement``)."""
        return replacement(name, strategy, value, digest)

    def render(
        self,
        data: bytes,
        smap: StripMap,
        spans: list[Span],
        lo: int,
        hi: int,
        *,
        stream: str,
        stream_offset: int,
        events: list[MaskEvent],
    ) -> bytes:
        """Render ``data[lo:hi]`` with ``spans`` replaced; bytes outside spans are untouched.

        Escape sequences inside a masked value are kept (after the replacement) so colours and
        cursor state stay intact; a string sequence (title, link) the value cuts through is
        dropped with it. ``stream_offset`` is the stream position of ``data[0]``.
        """
        hits = [(s.start, s.end, s.detector) for s in spans]
        return self.render_hits(
            data, smap, hits, lo, hi, stream=stream, stream_offset=stream_offset, events=events
        )

    def render_hits(
        self,
        data: bytes,
        smap: StripMap,
        hits: list[Hit],
        lo: int,
        hi: int,
        *,
        stream: str,
        stream_offset: int,
        events: list[MaskEvent],
        proofs: ProofCache | None = None,
    ) -> bytes:
        """Like ``render``, for ``(start, end, detector)`` tuples from ``find_hits``.

        ``proofs`` carries the proofs of values already masked on the same stream (see
        ``ProofCache``); without it, proofs are cached for this call only.
        """
        digests = ({}, {}) if proofs is None else proofs.reset_if_full()
        if not smap.positions:
            return render_plain(
                data,
                hits,
                lo,
                hi,
                stream,
                stream_offset,
                events,
                digests,
                self._looks,
                self._mac.copy,
            )
        out: list[bytes] = []
        put = out.append
        cursor = lo
        text = smap.text
        widen = smap.widen if smap.strings else None
        for span_start, span_end, det in hits:
            start = smap.orig(span_start)
            end = smap.orig_end(span_end)
            if widen is not None:
                start, end = widen(start, end)
            start = max(start, lo, cursor)
            end = min(end, hi)
            if end <= start:
                continue
            value = text[span_start:span_end]
            strategy, fixed, numeric = self._look(det)
            cache = digests[numeric]
            digest = cache.get(hash(value))
            if digest is None:
                proved = (
                    without_separators(value).translate(None, _NORMALISE_SEPARATORS)
                    if numeric
                    else value
                )
                digest = cache[hash(value)] = self.value_hmac(proved)
            put(data[cursor:start])
            put(fixed or self.replacement(det.name, strategy, value, digest))
            put(escapes_in(data, start, end))
            events.append(
                new_event(det.name, strategy, stream, stream_offset + start, end - start, digest)
            )
            cursor = end
        put(data[cursor:hi])
        return b"".join(out)

    def _look(self, det: Detector) -> tuple[Strategy, bytes, bool]:
        """Strategy, fixed replacement (redact only) and whether the proof drops separators."""
        look = self._looks.get(det.name)
        if look is None:
            strategy = self.policy.strategy_for(det.name)
            fixed = self.replacement(det.name, strategy, b"", "") if strategy == "redact" else b""
            look = self._looks[det.name] = (strategy, fixed, _drops_separators(det))
        return look

    def _failed(self, exc: Exception, stream: str, length: int) -> None:
        failure = MaskFailure(stream, 0, length, type(exc).__name__, not self.unsafe_best_effort)
        if self._on_error is not None:
            self._on_error(failure)
        if not self.unsafe_best_effort:
            raise MaskingError(f"masking failed on {stream}: {type(exc).__name__}") from exc

    def mask_bytes(self, data: bytes, *, stream: str = "bytes") -> tuple[bytes, list[MaskEvent]]:
        """Mask a complete byte string (escape-sequence aware).

        Raises:
            MaskingError: The engine failed and the mode is ``fail_closed``.
        """
        events: list[MaskEvent] = []
        try:
            smap = strip_ansi(data)
            hits = self.find_mapped(data, smap)
            if not hits:
                return data, events
            return self.render_hits(
                data, smap, hits, 0, len(data), stream=stream, stream_offset=0, events=events
            ), events
        except MaskingError:
            raise
        except Exception as exc:
            self._failed(exc, stream, len(data))
            return data, []

    def mask_text(self, text: str, *, stream: str = "text") -> tuple[str, list[MaskEvent]]:
        """Mask a whole string (an error message, a SQL cell); offsets count UTF-8 bytes."""
        data = text.encode("utf-8", "surrogateescape")
        out, events = self.mask_bytes(data, stream=stream)
        if not events:
            return text, events
        return out.decode("utf-8", "surrogateescape"), events

    def mask_value(self, column: str, value: object) -> tuple[object, list[MaskEvent]]:
        """Mask one SQL result cell: column-name rules first, then the detectors.

        Returns the value unchanged (same object) when nothing is masked; a masked value comes
        back as ``str`` (``bytes`` for binary cells). ``None`` and booleans are never masked.
        """
        if value is None or isinstance(value, bool):
            return value, []
        stream = f"column:{column}"
        raw = (
            bytes(value)
            if isinstance(value, bytes | bytearray | memoryview)
            else str(value).encode("utf-8", "surrogateescape")
        )
        for rule in self.policy.columns:
            if rule.match.search(column):
                digest = self.value_hmac(raw)
                shown = self.replacement("column", rule.strategy, raw, digest)
                event = MaskEvent("column", rule.strategy, stream, 0, len(raw), digest)
                masked: object = (
                    shown if isinstance(value, bytes | bytearray | memoryview) else shown.decode()
                )
                return masked, [event]
        if isinstance(value, bytes | bytearray | memoryview):
            out, events = self.mask_bytes(raw, stream=stream)
            return (out if events else value), events
        text, events = self.mask_text(str(value), stream=stream)
        return (text if events else value), events
