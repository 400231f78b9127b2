"""One-pass candidate search for the built-in detectors: a few C-speed scans instead of one each.

Every built-in detector has one or more probes. A probe is a *pivot* (a literal that every match
of the detector contains, e.g. the ``_`` of ``ghp_`` or the first digit of a card number) and a
*body* of zero-width assertions around it that every match also satisfies. Probes sharing a
pivot are scanned together by one regex whose only literal prefix is the pivot, so the regex
engine skips to pivots at C speed and checks all bodies there; Python code runs only where some
body holds, and then only the detectors whose body held get a window to run their own regex in.

Most probes run on the *folded* text: ASCII digits become ``0`` and upper-case letters lower-case,
so a probe is a superset of its detector (``T3BlbkFJ`` is looked for as ``t0blbkfj``, a card
number as ``0000 0000 …``); negative assertions only use classes folding keeps exact (digits,
letters, punctuation). The detector's own regex then decides on the original text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from broker.masking.detector import Detector, Window

FOLD = bytes(48 if 48 <= b <= 57 else b + 32 if 65 <= b <= 90 else b for b in range(256))
"""``bytes.translate`` table: digits to ``0``, upper-case ASCII to lower-case."""

Kind = Literal["raw", "fold"]


@dataclass(frozen=True)
class Probe:
    """Where a detector may match: a pivot literal and assertions around it."""

    kind: Kind
    """``raw`` scans the text itself, ``fold`` the folded text."""
    pivot: bytes
    """Literal every match contains (scanned for at C speed)."""
    body: bytes
    """Zero-width regex evaluated right after the pivot; must hold wherever a match can be."""
    lo: int
    """Window start relative to the pivot's position."""
    hi: int
    """Window end relative to the pivot's position."""
    guard: bytes = b""
    """Zero-width regex shared by several bodies, checked once before them."""


def _p(kind: Kind, pivot: bytes, body: bytes, lo: int, hi: int, guard: bytes = b"") -> Probe:
    return Probe(kind, pivot, body, lo, hi, guard)


def _word(word: bytes, left: int, right: int) -> Probe:
    """A plain (folded) literal with a window of ``left`` before and ``right`` after it."""
    return Probe("fold", word, b"", -left, len(word) + right)


_W = 512
# The first two digits of a run not preceded by a letter, nor by a digit and a separator.
_NUM_GUARD = rb"(?<![a-z]00)(?<!0[ \-.]00)"
# At least nine digits from the pivot, at most one separator between two.
_NUM_LONG = rb"(?=(?:[ \-.]?0){7})"


# After a digit-group value: not a letter or digit, nor a separator and a digit.
_NA = rb"(?![a-z0])(?![ \-.]0)"


def _num(
    rest: bytes, hi: int, guard: bytes = _NUM_GUARD, after: bytes = _NA, long: bytes = _NUM_LONG
) -> Probe:
    """A value of digit groups starting at the pivot (the run's first two digits)."""
    return Probe("fold", b"00", b"(?=" + rest + after + b")", -3, hi, guard + long)


# Card numbers may follow one another, separated by a space: only a letter, or a digit and a
# dash or dot, before the pivot rule one out; only a letter or digit after.
_CARD_GUARD = rb"(?<![a-z]00)(?<!0[\-.]00)"
_CARD_AFTER = rb"(?![a-z0])"
_CARD_LONG = rb"(?=(?:[ \-.]? ?0){7})"
"""``_NUM_LONG`` for cards, whose groups may also be apart by two spaces."""
# Values of fixed groups (SSN, SIN, Aadhaar, IMEI, CPF): a space and a digit after one written
# with dashes is the next column, so only a letter, a digit, or a dash or dot and a digit rule
# one out here; before, as for cards.
_SEP_AFTER = rb"(?![a-z0])(?![\-.]0)"
_NATIONAL_AFTER = 48
"""Bytes after a context word (``SSN``, ``SIN`` …) that its number may end within."""


def _national(*words: bytes) -> tuple[Probe, ...]:
    """Context words before a bare national number: three-letter words between non-letters,
    ``social security`` and ``social insurance``."""
    short = tuple(
        Probe("fold", w, rb"(?<![a-z]" + w + rb")(?![a-z])", 0, len(w) + _NATIONAL_AFTER)
        for w in words
        if len(w) == 3
    )
    return (*short, _p("fold", b"social", rb"(?=[ \t](?:security|insurance))", 0, 6 + 60))


BUILTIN_PROBES: dict[str, tuple[Probe, ...]] = {
    "private_key": (_p("fold", b"-", rb"(?=----begin )", 0, 1 << 30),),
    "jwt": (_p("fold", b"j", rb"(?<=eyj)", -2, 1 + 16384),),
    "aws_access_key_id": (
        _p("raw", b"A", rb"(?=3T|KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA)", 0, 4 + _W),
    ),
    "aws_secret_access_key": (_word(b"secret", 48, 128),),
    "gcp_api_key": (_p("raw", b"A", rb"(?=Iza)", 0, 4 + _W),),
    "google_oauth_client_secret": (_p("fold", b"-", rb"(?<=gocspx-)", -6, 1 + _W),),
    "azure_storage_key": (
        _p("fold", b"k", rb"(?<=accountk)(?=ey)", -7 - 32, 3 + 160),
        _p("fold", b"k", rb"(?<=accessk)(?=ey)", -6 - 32, 3 + 160),
        _word(b"storage", 32, 160),
    ),
    "github_token": (_p("fold", b"_", rb"(?<=gh[pousr]_)", -3, 1 + _W),),
    "github_fine_grained_token": (_p("fold", b"_", rb"(?<=github_)(?=pat_)", -6, 5 + _W),),
    "gitlab_token": (
        _p("fold", b"-", rb"(?<=gl(?:dt|rt|ft)-)", -4, 1 + _W),
        _p("fold", b"-", rb"(?<=gl(?:pat|ptt|cbt|imt|oas)-)", -5, 1 + _W),
        _p("fold", b"-", rb"(?<=gl(?:soat|ffct)-)", -6, 1 + _W),
        _p("fold", b"-", rb"(?<=glagent-)", -7, 1 + 1100),
        _p("fold", b"00", rb"(?<=gr00)(?=00000)", -2, 7 + _W, rb"(?<=[a-z]00)"),
    ),
    "slack_token": (
        _p("fold", b"-", rb"(?<=xox[abpors]-)", -4, 1 + _W),
        _p("fold", b"-", rb"(?<=xapp-)", -4, 1 + _W),
        _p("fold", b"-", rb"(?<=xoxe-)", -4, 1 + _W),
        _p("fold", b"-", rb"(?<=xoxe\.xox[bp]-)", -9, 1 + _W),
    ),
    "slack_webhook": (_p("fold", b".", rb"(?<=hooks\.)(?=slack\.com)", -5 - 8, 10 + _W),),
    "stripe_key": (_p("fold", b"_", rb"(?=(?:live|test)_)", -2, 6 + 300),),
    "npm_token": (
        _p("fold", b"_", rb"(?<=npm_)", -3, 1 + _W),
        _p("fold", b"_", rb"(?<=:_)(?=authtoken=)", -256 - 1, 11 + _W),
    ),
    "pypi_token": (_p("fold", b"-", rb"(?<=pypi-)(?=age)", -4, 4 + _W),),
    "sendgrid_api_key": (_p("fold", b".", rb"(?<=sg\.)", -2, 1 + _W),),
    "openai_api_key": (_p("fold", b"j", rb"(?<=t0blbkfj)", -7 - 256, 1 + _W),),
    "anthropic_api_key": (_p("fold", b"-", rb"(?<=sk-)(?=ant-)", -2, 5 + _W),),
    "huggingface_token": (_p("fold", b"_", rb"(?<=hf_)", -2, 1 + _W),),
    "digitalocean_token": (_p("fold", b"_", rb"(?=v0_)", -3, 4 + 80),),
    "url_password": (_p("fold", b":", rb"(?=//)", 0, 3 + _W),),
    "password_assignment": (
        _word(b"pass", 64, 1024),
        _word(b"secret", 64, 1024),
        _p("fold", b"_", rb"(?<=mysql_)(?=pwd)", -5 - 64, 4 + 1024),
        _p("fold", b"k", rb"(?<=apik)(?=ey)", -3 - 64, 3 + 1024),
        _p("fold", b"_", rb"(?<=api_)(?=key)", -3 - 64, 4 + 1024),
        _p("fold", b"-", rb"(?<=api-)(?=key)", -3 - 64, 4 + 1024),
        _p("fold", b"k", rb"(?<=privatek)(?=ey)", -7 - 64, 3 + 1024),
        _p("fold", b"_", rb"(?<=private_)(?=key)", -7 - 64, 4 + 1024),
        _p("fold", b"-", rb"(?<=private-)(?=key)", -7 - 64, 4 + 1024),
        _word(b"authorization", 64, 1024),
    ),
    "password_option": (
        _word(b"mysql", 0, 600),
        _word(b"mariadb", 0, 600),
        _word(b"sshpass", 0, 600),
    ),
    "credit_card": (
        _num(
            rb"(?:00[ \-]? ?0000[ \-]? ?0000[ \-]? ?0{1,7}|00[ \-]?000000[ \-]?0{4,5})",
            30,
            _CARD_GUARD,
            _CARD_AFTER,
            _CARD_LONG,
        ),
    ),
    "iban": (
        _p(
            "fold",
            b"00",
            rb"(?<![a-z0][a-z][a-z]00)(?<=[a-z][a-z]00)(?<!0[ \-.][a-z][a-z]00)"
            rb"(?=[a-z0]{11}|(?:[ \-][a-z0]{4}){2})",
            -5,
            45,
            rb"(?<=[a-z]00)",
        ),
    ),
    "us_ssn": (
        _num(rb"0[ \-.]00[ \-.]0000", 14, _CARD_GUARD, _SEP_AFTER),
        *_national(b"ssn", b"itin", b"tax"),
    ),
    "us_itin": (
        _num(rb"0[ \-.]00[ \-.]0000", 14, _CARD_GUARD, _SEP_AFTER),
        *_national(b"ssn", b"itin", b"tax"),
    ),
    "aba_routing": (
        _word(b"routing", 0, 80),
        _word(b"aba", 0, 80),
        _word(b"rtn", 0, 80),
        _word(b"transit", 0, 80),
        _num(rb"00-0000-0", 14),
        _p("fold", b"00", rb"(?<![^\n]00)(?=0{7}(?![^\r\n]))", -2, 10),
    ),
    "ca_sin": (
        _num(rb"0[ \-]000[ \-]000", 14, _CARD_GUARD, _SEP_AFTER),
        *_national(b"sin", b"nas"),
    ),
    "uk_nino": (
        _p("fold", b"00", rb"(?<=[a-z][a-z]00)(?= ?00 ?00 ?[a-d])", -5, 16, rb"(?<=[a-z]00)"),
        _p("fold", b"00", rb"(?<=[a-z][a-z] 00)(?= ?00 ?00 ?[a-d])", -6, 16, rb"(?<= 00)"),
    ),
    "br_cpf": (_num(rb"0(?:\.000\.000-|000000)00", 17, _CARD_GUARD, _SEP_AFTER),),
    "in_aadhaar": (_num(rb"00[ \-]?0000[ \-]?0000", 17, _CARD_GUARD, _SEP_AFTER),),
    "imei": (
        _num(
            rb"(?:[ \-]?000000[ \-]?000000[ \-]?0|0000[ \-]00[ \-]000000[ \-]0)",
            21,
            _CARD_GUARD,
            _SEP_AFTER,
        ),
    ),
    "email": (_p("raw", b"@", b"", 0, 1 + 256),),
    "phone_e164": (_p("fold", b"+", rb"(?=0(?:[ \-.]?\(?0\)?){6})", -3, 61),),
    "ipv4": (_p("fold", b".", rb"(?<=0\.)(?=0{1,3}\.0{1,3}\.0)", -6, 15),),
    "ipv6": (_p("fold", b":", rb"(?=:|(?:[0a-f]{1,4}:){6})", -42, 42),),
    "mac_address": (
        _p("fold", b":", rb"(?<=[0a-f]{2}:)(?=(?:[0a-f]{2}:){4}[0a-f]{2})", -5, 20),
        _p("fold", b"-", rb"(?<=[0a-f]{2}-)(?=(?:[0a-f]{2}-){4}[0a-f]{2})", -5, 20),
    ),
}
"""Probes of each built-in detector, by name (used only for the built-in detector objects)."""

Target = tuple[int, int, int]  # detector rank, window start and end relative to the pivot


@dataclass(frozen=True)
class _Scan:
    kind: Kind
    pivot: bytes
    regex: re.Pattern[bytes]
    slots: tuple[tuple[int, tuple[Target, ...]], ...]
    """(group index, targets); group 0 when the scan has a single body."""


class Prefilter:
    """The probes of a set of detectors, compiled into one regex per pivot."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        """Compile the probes of the built-in detectors among ``detectors``.

        Args:
            detectors: The enabled detectors, in precedence order (ranks are their indexes).
        """
        from broker.masking.builtin import BUILTIN_BY_NAME

        bodies: dict[tuple[Kind, bytes], dict[tuple[bytes, bytes], list[Target]]] = {}
        covered: set[int] = set()
        for rank, det in enumerate(detectors):
            probes = BUILTIN_PROBES.get(det.name)
            if probes is None or BUILTIN_BY_NAME.get(det.name) is not det:
                continue
            covered.add(rank)
            for probe in probes:
                group = bodies.setdefault((probe.kind, probe.pivot), {})
                key = (probe.guard, probe.body)
                group.setdefault(key, []).append((rank, probe.lo, probe.hi))
        scans: list[_Scan] = []
        for (kind, pivot), group in sorted(bodies.items()):
            scans.append(_compile(kind, pivot, group))
        self.covered = frozenset(covered)
        """Ranks of the detectors whose windows come from this prefilter."""
        self._scans = tuple(scans)
        self._fold = any(s.kind == "fold" for s in scans)

    def candidates(self, text: bytes) -> FixedWindows:
        """The windows of ``text``, in the shape the engine asks for (see ``HsCandidates``)."""
        return FixedWindows(self.windows(text))

    def windows(self, text: bytes) -> dict[int, list[Window]]:
        """Return merged windows per covered detector rank (ranks without any are absent)."""
        found: dict[int, list[Window]] = {}
        folded = text.translate(FOLD) if self._fold else text
        for scan in self._scans:
            subject = folded if scan.kind == "fold" else text
            if len(scan.pivot) == 1 and scan.pivot not in subject:
                continue
            slots = scan.slots
            if len(slots) == 1 and slots[0][0] == 0:
                targets = slots[0][1]
                for m in scan.regex.finditer(subject):
                    p = m.start()
                    for rank, lo, hi in targets:
                        found.setdefault(rank, []).append((p + lo, p + hi))
                continue
            # The marks are empty groups: ``groups()`` is a position-free key (b"" or None each).
            chosen: dict[tuple[bytes | None, ...], list[Target]] = {}
            for m in scan.regex.finditer(subject):
                p = m.start()
                key = m.groups()
                targets_at = chosen.get(key)
                if targets_at is None:
                    targets_at = chosen[key] = [
                        t for i, ts in slots if key[i - 1] is not None for t in ts
                    ]
                for rank, lo, hi in targets_at:
                    found.setdefault(rank, []).append((p + lo, p + hi))
        size = len(text)
        return {rank: merge_windows(spans, size) for rank, spans in found.items()}


class FixedWindows:
    """Windows computed up front: values found so far do not change them."""

    def __init__(self, windows: dict[int, list[Window]]) -> None:
        self._windows = windows
        self.active = windows.keys()
        """Ranks of the covered detectors with at least one window."""

    def windows(self, rank: int, reach: Mapping[int, int]) -> list[Window] | None:
        """Merged windows of the detector at ``rank``, or None when it has no candidate."""
        return self._windows.get(rank)


# Checked first at every pivot of that kind: the numeric pivot starts a run of digits.
_PIVOT_GUARD: dict[tuple[Kind, bytes], bytes] = {("fold", b"00"): rb"(?<!000)"}


def _compile(kind: Kind, pivot: bytes, group: dict[tuple[bytes, bytes], list[Target]]) -> _Scan:
    lit = re.escape(pivot) + _PIVOT_GUARD.get((kind, pivot), b"")
    items = list(group.items())
    if len(items) == 1:
        (guard, body), targets = items[0]
        return _Scan(kind, pivot, re.compile(lit + guard + body), ((0, tuple(targets)),))
    by_guard: dict[bytes, list[bytes]] = {}
    for (guard, body), _ in items:
        by_guard.setdefault(guard, []).append(body or b"(?:)")
    gate = (
        b"(?:" + b"|".join(g + b"(?:" + b"|".join(bs) + b")" for g, bs in by_guard.items()) + b")"
    )
    marks = b"".join(b"(?:" + guard + body + b"()|)" for (guard, body), _ in items)
    slots = tuple((i + 1, tuple(targets)) for i, (_, targets) in enumerate(items))
    return _Scan(kind, pivot, re.compile(lit + gate + marks), slots)


def merge_windows(spans: list[Window], size: int) -> list[Window]:
    """Sort, clip to ``[0, size]`` and merge overlapping or touching windows."""
    if len(spans) > 1:
        spans.sort()
    merged: list[Window] = []
    for a, b in spans:
        if a < 0:
            a = 0
        if b > size:
            b = size
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged
