"""Candidate search with Hyperscan: one C pass over the text for every built-in detector at once.

The pure-Python ``Prefilter`` needs one ``re`` scan per pivot; digit-heavy text (logs, CSV, JSON)
makes its numeric scan stop at every digit. Hyperscan compiles all probes into one automaton and
reports only where a probe matched, so Python runs per candidate, never per byte.

Every probe here is a *superset* of its detector: a literal every match contains (a token's
prefix, a key word), or a pattern every match begins with (lookarounds dropped, back-references
widened to their class, a left boundary consumed instead of asserted). Hyperscan reports every end
offset of every probe match, so each window is placed relative to the reported end: ``before``
covers the longest probe match (``re`` look-behinds see before a window anyway), ``after`` the
rest of the longest value plus its look-ahead context (``re`` does not look past a window's end).
Every value a detector can find lies inside one of its windows; both fast paths are
property-tested against a whole-text scan of every detector.

A detector whose regex starts with a literal (a token prefix, ``@``, ``+``) gets one window from
its first candidate to the end of the text (Hyperscan stops reporting that probe after the first
match): no match can start before its literal, ``re`` finds the literal at C speed, and one
scan beats hundreds of small windows on text dense with e-mail addresses or phone numbers.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from operator import add, le, sub
from typing import Any

from broker.masking.detector import Detector, Window
from broker.masking.prefilter import Prefilter, merge_windows

try:
    import hyperscan
except ImportError:  # pragma: no cover - the dependency is declared; this keeps a fallback
    hyperscan = None  # type: ignore[assignment]


@dataclass(frozen=True)
class HsProbe:
    """A Hyperscan pattern every match of a detector contains, and the window around it."""

    pattern: bytes
    """Hyperscan pattern (no look-arounds, no back-references)."""
    before: int
    """Window start before the reported end offset."""
    after: int
    """Window end after the reported end offset."""
    caseless: bool = False
    """Match letters without regard to case (the detector's key words are case-insensitive)."""
    exact: int = 0
    """When non-zero, every value the probe stands for ends where the probe reports, and is at
    most this long: a candidate inside a longer value found earlier can be dropped."""


def _lit(pattern: bytes, before: int, after: int = 512) -> HsProbe:
    return HsProbe(pattern, before, after)


def _ci(pattern: bytes, before: int, after: int) -> HsProbe:
    return HsProbe(pattern, before, after, caseless=True)


def _exact(pattern: bytes, longest: int) -> HsProbe:
    """A probe matching the whole value (after a consumed boundary byte) of at most ``longest``
    bytes; the window adds three bytes of look-behind and look-ahead context."""
    return HsProbe(_B + pattern, longest + 3, 3, exact=longest)


# A consumed left boundary: start of text or a byte that is not an ASCII letter or digit (every
# numeric detector asserts ``(?<![A-Za-z0-9])`` before its value).
_B = rb"(?:^|[^0-9A-Za-z])"
_HEX = rb"[0-9A-Fa-f]"

# Context words before a bare national number (``SSN: 078051123``), the number within 48 bytes
# after the word.
# A three-letter word is a probe only between non-letters (random base64 is full of them).
_US_WORDS = _ci(rb"(?:^|[^A-Za-z])(?:ssn|itin|tax)(?:[^A-Za-z]|$)|social[ \t]security", 17, 48)
_CA_WORDS = _ci(rb"(?:^|[^A-Za-z])(?:sin|nas)(?:[^A-Za-z]|$)|social[ \t]insurance", 17, 48)

HS_PROBES: dict[str, tuple[HsProbe, ...]] = {
    "private_key": (_lit(rb"-----BEGIN ", 11, 1 << 30),),
    "jwt": (_lit(rb"eyJ", 3, 16384),),
    "aws_access_key_id": (
        _lit(rb"A(?:3T|KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA)", 4, 513),
    ),
    "aws_secret_access_key": (_ci(rb"secret", 54, 128),),
    "gcp_api_key": (_lit(rb"AIza", 4),),
    "google_oauth_client_secret": (_lit(rb"GOCSPX-", 7),),
    "azure_storage_key": (_ci(rb"accountkey|accesskey|storage", 42, 163),),
    "github_token": (_lit(rb"gh[pousr]_", 4),),
    "github_fine_grained_token": (_lit(rb"github_pat_", 11),),
    "gitlab_token": (
        _lit(rb"gl(?:pat|dt|rt|ptt|cbt|imt|soat|ft|oas|ffct)-|GR1348941", 9, 516),
        _lit(rb"glagent-", 8, 1100),
    ),
    "slack_token": (_lit(rb"xox[abpors]-|xoxe[.\-]|xapp-", 10),),
    "slack_webhook": (_lit(rb"hooks\.slack\.com", 23),),
    "stripe_key": (_lit(rb"_(?:live|test)_", 8, 300),),
    "npm_token": (_lit(rb"npm_", 4), _lit(rb":_authToken=", 12 + 256)),
    "pypi_token": (_lit(rb"pypi-AgE", 8),),
    "sendgrid_api_key": (_lit(rb"SG\.", 3),),
    "openai_api_key": (_lit(rb"T3BlbkFJ", 264),),
    "anthropic_api_key": (_lit(rb"sk-ant-", 7),),
    "huggingface_token": (_lit(rb"hf_", 3),),
    "digitalocean_token": (_lit(rb"_v1_", 7, 80),),
    "url_password": (_lit(rb"://", 3),),
    "password_assignment": (
        _ci(rb"pass|secret|mysql_pwd|api[_\-]?key|private[_\-]?key|authorization", 77, 1029),
    ),
    "password_option": (_ci(rb"mysql|mariadb|sshpass", 7, 607),),
    "credit_card": (
        HsProbe(
            _B + rb"(?:[0-9]{4}[ \-]? ?[0-9]{4}[ \-]? ?[0-9]{4}[ \-]? ?[0-9]"
            rb"|3[0-9]{3}[ \-]?[0-9]{6}[ \-]?[0-9]{4})",
            20,
            11,
        ),
    ),
    "iban": (
        HsProbe(_B + rb"[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11}|[ \-][A-Z0-9]{4}[ \-][A-Z0-9]{4})", 19, 34),
    ),
    "us_ssn": (_exact(rb"[0-9]{3}[ \-.][0-9]{2}[ \-.][0-9]{4}", 11), _US_WORDS),
    "us_itin": (_exact(rb"9[0-9]{2}[ \-.][0-9]{2}[ \-.][0-9]{4}", 11), _US_WORDS),
    "aba_routing": (
        _ci(rb"routing|aba|rtn|transit", 7, 80),
        _exact(rb"[0-9]{4}-[0-9]{4}-[0-9]", 11),
        HsProbe(rb"(?:^|\n)[0-9]{9}", 10, 3),
    ),
    "ca_sin": (_exact(rb"[0-9]{3}[ \-][0-9]{3}[ \-][0-9]{3}", 11), _CA_WORDS),
    "uk_nino": (
        HsProbe(_B + rb"[A-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]", 16, 3, caseless=True),
    ),
    "br_cpf": (
        _exact(rb"[0-9]{11}", 11),
        _exact(rb"[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}", 14),
    ),
    "in_aadhaar": (_exact(rb"[2-9][0-9]{3}[ \-]?[0-9]{4}[ \-]?[0-9]{4}", 14),),
    "imei": (
        _exact(rb"[0-9]{2}[ \-]?[0-9]{6}[ \-]?[0-9]{6}[ \-]?[0-9]", 18),
        _exact(rb"[0-9]{6}[ \-][0-9]{2}[ \-][0-9]{6}[ \-][0-9]", 18),
    ),
    "email": (_lit(rb"@", 1, 256),),
    "phone_e164": (HsProbe(rb"\+[1-9](?:[ \-.]?\(?[0-9]\)?){6}", 29, 53),),
    "ipv4": (HsProbe(rb"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]", 16, 5),),
    "ipv6": (
        HsProbe(rb"::", 44, 40),
        HsProbe(rb":(?:" + _HEX + rb"{1,4}:){6}", 73, 29),
    ),
    "mac_address": (
        HsProbe(
            _HEX + rb"{2}(?::" + _HEX + rb"{2}){5}|" + _HEX + rb"{2}(?:-" + _HEX + rb"{2}){5}",
            20,
            3,
        ),
    ),
}
"""Hyperscan probes of each built-in detector, by name."""

LITERAL_LED = frozenset(
    {
        "private_key", "jwt", "gcp_api_key", "google_oauth_client_secret", "github_token",
        "github_fine_grained_token", "slack_webhook", "pypi_token",
        "sendgrid_api_key", "anthropic_api_key", "huggingface_token", "url_password", "email",
        "phone_e164",
    }
)  # fmt: skip
"""Built-in detectors whose regex starts with a literal (a whole-text ``re`` scan is cheap)."""

Target = tuple[int, int, int, int]  # probe id, before, after (< 0: to the end of text), exact


class HsPrefilter:
    """The Hyperscan probes of a set of detectors, compiled once per process and shared."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        """Compile the probes of the built-in detectors among ``detectors``.

        Raises:
            RuntimeError: Hyperscan is not installed.
            hyperscan.error: Hyperscan cannot compile for this CPU.
        """
        if hyperscan is None:
            raise RuntimeError("hyperscan is not installed")
        from broker.masking.builtin import BUILTIN_BY_NAME

        ids: dict[tuple[bytes, bool, bool], int] = {}
        by_rank: dict[int, list[Target]] = {}
        for rank, det in enumerate(detectors):
            probes = HS_PROBES.get(det.name)
            if probes is None or BUILTIN_BY_NAME.get(det.name) is not det:
                continue
            led = det.name in LITERAL_LED
            for probe in probes:
                ident = ids.setdefault((probe.pattern, probe.caseless, led), len(ids))
                after = -1 if led else probe.after
                by_rank.setdefault(rank, []).append((ident, probe.before, after, probe.exact))
        self.covered = frozenset(by_rank)
        """Ranks of the detectors whose windows come from this prefilter."""
        self._by_rank = {rank: tuple(targets) for rank, targets in by_rank.items()}
        self._probes = len(ids)
        ranks_of: list[list[int]] = [[] for _ in ids]
        for rank, targets in by_rank.items():
            for ident, *_ in targets:
                ranks_of[ident].append(rank)
        self._ranks_of = tuple(tuple(ranks) for ranks in ranks_of)
        self._dbs = _databases(tuple(ids))
        self._local = threading.local()

    def _scratches(self) -> list[Any]:
        """Hyperscan scratch spaces of the calling thread (scans must not share one)."""
        scratches: list[Any] | None = getattr(self._local, "scratches", None)
        if scratches is None:
            scratches = self._local.scratches = [hyperscan.Scratch(db) for db in self._dbs]
        return scratches

    def windows(self, text: bytes) -> dict[int, list[Window]]:
        """Return merged windows per covered detector rank (ranks without any are absent)."""
        found = self.candidates(text)
        got = {rank: found.windows(rank, {}) for rank in self._by_rank}
        return {rank: windows for rank, windows in got.items() if windows is not None}

    def candidates(self, text: bytes) -> HsCandidates:
        """Scan ``text`` once; windows per detector are then built on demand."""
        ends: list[list[int]] = [[] for _ in range(self._probes)]
        if self._dbs and text:
            appenders = [found.append for found in ends]

            def on_match(ident: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
                appenders[ident](end)

            for db, scratch in zip(self._dbs, self._scratches(), strict=True):
                db.scan(text, match_event_handler=on_match, scratch=scratch)
        ranks_of = self._ranks_of
        active = {rank for ident, found in enumerate(ends) if found for rank in ranks_of[ident]}
        return HsCandidates(text, ends, self._by_rank, active)


class HsCandidates:
    """The probe matches in one text, turned into windows per detector when asked."""

    def __init__(
        self,
        text: bytes,
        ends: list[list[int]],
        by_rank: dict[int, tuple[Target, ...]],
        active: set[int],
    ) -> None:
        self._text = text
        self._size = len(text)
        self._ends = ends
        self._by_rank = by_rank
        self.active = active
        """Ranks of the covered detectors with at least one candidate (the others: no window)."""

    def windows(self, rank: int, reach: Mapping[int, int]) -> list[Window] | None:
        """Merged windows of the detector at ``rank``, or None when it has no candidate.

        Args:
            rank: A covered detector rank.
            reach: End offset → smallest start of the values already found. An exact probe's
                candidate ending where a value that starts before any value the candidate could
                be also ends is dropped: that value would be absorbed when merging (e.g. the
                eleven digits of ``+14155552671`` as a CPF inside the phone number).
        """
        size = self._size
        parts: list[list[Window]] = []
        for ident, before, after, exact in self._by_rank[rank]:
            found = self._ends[ident]
            if not found:
                continue
            if after < 0:
                parts.append([(max(found[0] - before, 0), size)])
                continue
            if exact:
                if reach:
                    found = [e for e in found if reach.get(e, e) >= e - exact]
                found = _ended(self._text, found)
                if not found:
                    continue
            parts.append(_windows(found, before, after, size))
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        return merge_windows([w for part in parts for w in part], size)


# Bytes after which an exact probe's value cannot end: every detector with an exact probe
# asserts ``(?![A-Za-z0-9])(?![ \-.][0-9])`` after its value, except that a space and a digit
# may follow a value written with dashes or dots (its last separator within the last 5 bytes).
_GOES_ON = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_SEPARATORS = frozenset(b" -.")
_DIGITS = frozenset(b"0123456789")
_DASHED = frozenset(b"-.")


def _ended(text: bytes, ends: list[int]) -> list[int]:
    """The candidate ends of an exact probe where a value can end (the first digits of a longer
    number, e.g. a card number's first twelve as an Aadhaar number, are dropped)."""
    size = len(text)
    out: list[int] = []
    for e in ends:
        if e < size:
            nxt = text[e]
            if nxt in _GOES_ON:
                continue
            if (
                nxt in _SEPARATORS
                and e + 1 < size
                and text[e + 1] in _DIGITS
                and (nxt != 32 or not _DASHED.intersection(text[max(e - 5, 0) : e]))
            ):
                continue
        out.append(e)
    return out


def _windows(ends: list[int], before: int, after: int, size: int) -> list[Window]:
    """Windows ``(end - before, end + after)`` around ascending ``ends``, merged, clipped.

    Built in ``map``/``zip`` passes; when two windows overlap or touch (or the ends are not
    ascending), ``merge_windows`` sorts and merges them.
    """
    starts = list(map(sub, ends, repeat(before)))
    stops = list(map(add, ends, repeat(after)))
    if any(map(le, starts[1:], stops)):
        return merge_windows(list(zip(starts, stops, strict=True)), size)
    starts[0] = max(starts[0], 0)
    stops[-1] = min(stops[-1], size)
    return list(zip(starts, stops, strict=True))


ProbeKey = tuple[bytes, bool, bool]  # pattern, caseless, first match only


@lru_cache(maxsize=64)
def _databases(probes: tuple[ProbeKey, ...]) -> tuple[Any, ...]:
    """Compile probes (ids are their indexes) once per process; databases are read-only.

    Two databases: first-match-only probes make Hyperscan slower on everything else.
    """
    ids = list(enumerate(probes))
    return tuple(
        _compile([(probe, ident) for ident, probe in ids if probe[2] is led])
        for led in (True, False)
        if any(probe[2] is led for probe in probes)
    )


def _compile(probes: list[tuple[ProbeKey, int]]) -> Any:
    """One Hyperscan block-mode database of ``((pattern, caseless, first match only), id)``."""
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(
        expressions=[pattern for (pattern, _, _), _ in probes],
        ids=[ident for _, ident in probes],
        elements=len(probes),
        flags=[_flags(caseless, led) for (_, caseless, led), _ in probes],
    )
    return db


def _flags(caseless: bool, literal_led: bool) -> int:
    """Hyperscan flags of a probe: a literal-led detector needs only its first candidate."""
    flags = hyperscan.HS_FLAG_CASELESS if caseless else 0
    return flags | hyperscan.HS_FLAG_SINGLEMATCH if literal_led else flags


def make_prefilter(detectors: Sequence[Detector]) -> HsPrefilter | Prefilter:
    """The Hyperscan prefilter when Hyperscan works here, else the pure-Python one."""
    if hyperscan is None:  # pragma: no cover
        return Prefilter(detectors)
    try:
        return HsPrefilter(detectors)
    except hyperscan.error:  # pragma: no cover - e.g. a CPU without SSSE3
        return Prefilter(detectors)
