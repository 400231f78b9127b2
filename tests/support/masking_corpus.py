"""Scoring the masking engine against the peers' test corpus (tests/masking/corpus/)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from broker.masking import MaskingEngine, MaskingPolicy, parse_masking_policy

CORPUS_DIR = Path(__file__).resolve().parents[1] / "masking" / "corpus"
SOURCES = ("presidio.jsonl", "detect-secrets.jsonl")
"""One file per peer project; ``excluded.jsonl`` lists what was kept out, and why."""
KEY = b"corpus-key-0123456789abcdef"


@dataclass(frozen=True)
class Source:
    """Where a case comes from in the peer's repository."""

    project: str
    """``owner/name`` on GitHub."""
    file: str
    """Path of the test file in that repository."""
    line: int
    """Line of the case's text in that file."""
    commit: str
    """Commit the file was read at."""


@dataclass(frozen=True)
class Case:
    """One corpus case: a text and what masking must do to it."""

    detector: str
    """Our detector the case is for."""
    text: str
    """The input, as the peer's test feeds it to its detector."""
    values: tuple[str, ...]
    """Values that must not survive masking; empty for a negative case."""
    source: Source
    """Where the case comes from."""
    other: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """In a negative case, values that another detector masks by design (the peer's own other
    plugins report them too); masking exactly those does not count as altering the text."""
    weak: bool = False
    """The peer's test asserts a score below 0.5 for every value (its "weak match" tier: a bare
    number with no context word); reported apart and kept out of the recall targets."""

    @property
    def positive(self) -> bool:
        """Whether some value must be masked."""
        return bool(self.values)


@dataclass(frozen=True)
class Outcome:
    """What the engine did to one case."""

    case: Case
    """The case."""
    masked: str
    """The engine's output."""
    ok: bool
    """Positive: every value is gone (no piece of half its length or more survives).
    Negative: nothing outside ``other`` values was masked."""


@dataclass(frozen=True)
class Row:
    """Figures of one detector."""

    detector: str
    """Detector name."""
    positives: int
    """Positive cases."""
    recalled: int
    """Positive cases whose values are all gone."""
    negatives: int
    """Negative cases."""
    altered: int
    """Negative cases the engine changed."""
    weak: int = 0
    """Weak positive cases (not counted in ``positives``)."""
    weak_recalled: int = 0
    """Weak positive cases whose values are all gone."""

    @property
    def recall(self) -> float:
        """Share of positives recalled (1.0 when there are none)."""
        return self.recalled / self.positives if self.positives else 1.0


def load_cases(directory: Path = CORPUS_DIR, names: Sequence[str] = SOURCES) -> list[Case]:
    """Read the corpus files (JSON Lines, one case a line)."""
    cases: list[Case] = []
    for name in names:
        for line in (directory / name).read_text(encoding="utf-8").splitlines():
            raw = json.loads(line)
            expected = raw["expected"]
            values = () if expected == "negative" else tuple(expected)
            other = {k: tuple(v) for k, v in raw.get("other", {}).items()}
            source = Source(**raw["source"])
            weak = "weak" in raw
            cases.append(Case(raw["detector"], raw["text"], values, source, other, weak))
    return cases


def all_detectors_engine() -> MaskingEngine:
    """The engine under policy ``detectors: {enable: all}`` (network detectors included)."""
    policy: MaskingPolicy = parse_masking_policy(
        {"detectors": {"enable": "all"}}, file="corpus", line_of=lambda _path: 0
    )
    return MaskingEngine(policy, key=KEY)


def survives(value: str, masked: str) -> bool:
    """Whether ``value``, or a piece of it at least half its length (4 characters or more),
    is still in ``masked``: a partial mask must not leave the middle of a secret."""
    if value in masked:
        return True
    size = max(4, (len(value) + 1) // 2)
    return any(value[i : i + size] in masked for i in range(len(value) - size + 1))


def judge(engine: MaskingEngine, case: Case) -> Outcome:
    """Mask one case's text with ``engine`` and decide whether it passed."""
    masked, events = engine.mask_text(case.text, stream="corpus")
    if case.positive:
        ok = not any(survives(v, masked) for v in case.values)
        return Outcome(case, masked, ok)
    data = case.text.encode("utf-8")
    allowed: list[tuple[int, int]] = []
    for values in case.other.values():
        for value in values:
            raw = value.encode("utf-8")
            at = data.find(raw)
            while at >= 0:
                allowed.append((at, at + len(raw)))
                at = data.find(raw, at + 1)
    ok = all(any(a <= e.offset and e.offset + e.length <= b for a, b in allowed) for e in events)
    return Outcome(case, masked, ok)


def score(outcomes: Iterable[Outcome]) -> list[Row]:
    """Figures per detector, in name order."""
    tally: dict[str, list[int]] = {}
    for o in outcomes:
        t = tally.setdefault(o.case.detector, [0, 0, 0, 0, 0, 0])
        if o.case.weak:
            t[4] += 1
            t[5] += o.ok
        elif o.case.positive:
            t[0] += 1
            t[1] += o.ok
        else:
            t[2] += 1
            t[3] += not o.ok
    return [Row(name, *tally[name]) for name in sorted(tally)]


def total(rows: Sequence[Row]) -> Row:
    """All detectors together."""
    return Row(
        "all",
        sum(r.positives for r in rows),
        sum(r.recalled for r in rows),
        sum(r.negatives for r in rows),
        sum(r.altered for r in rows),
        sum(r.weak for r in rows),
        sum(r.weak_recalled for r in rows),
    )


def table(rows: Sequence[Row]) -> str:
    """A plain-text table: recall per detector and negatives altered, then the total."""
    head = f"{'detector':<24}{'positives':>10}{'recalled':>10}{'recall':>9}{'negatives':>11}"
    head += f"{'altered':>9}{'weak':>8}"
    lines = [head, "-" * len(head)]
    for r in [*rows, total(rows)]:
        if r.detector == "all":
            lines.append("-" * len(head))
        recall = f"{100 * r.recall:.1f}%" if r.positives else "-"
        lines.append(
            f"{r.detector:<24}{r.positives:>10}{r.recalled:>10}{recall:>9}{r.negatives:>11}"
            f"{r.altered:>9}" + (f"{r.weak_recalled:>5}/{r.weak:<2}" if r.weak else "")
        )
    return "\n".join(lines)
