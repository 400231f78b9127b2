"""The masker as an output stage of a session: per-stream StreamMaskers, proof, fail closed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from broker.errors import ConfigError
from broker.masking import MaskCounter, MaskFailure, MaskingEngine, MaskingPolicy, StreamMasker
from broker.masking.policy import parse_masking_policy
from broker.policy.loader import PolicySet

MAX_PROOFS = 200
"""HMACs kept per detector and session for the audit record (the count is always exact)."""
UNMASKED_GROUP = "unmasked"
"""Break-glass group: its members' sessions are not masked, and that is audited."""


def load_masking_policy(policies: PolicySet) -> MaskingPolicy:
    """The masking policy: the first policy file with a `masking` section, else the defaults.

    Raises:
        ConfigError: the section is invalid (file:line named).
    """
    if not policies.masking:
        return MaskingPolicy()
    src = policies.masking[0]
    section = src.data["masking"]

    def line_of(path: tuple[str | int, ...]) -> int:
        return src.line(("masking", *path))

    policy = parse_masking_policy(section, file=src.file, line_of=line_of)
    for extra in policies.masking[1:]:
        raise ConfigError(
            "only one policy file may have a masking section",
            file=extra.file,
            line=extra.line(("masking",)),
            key="masking",
        )
    return policy


def load_engine(policies: PolicySet, key_path: Path) -> MaskingEngine:
    """Build the deployment's masking engine (the key makes value HMACs stable and private)."""
    return MaskingEngine(load_masking_policy(policies), key=key_path.read_bytes())


class MaskingFilter:
    """Masks a session's stdout and stderr; keeps counts and value HMACs, never values."""

    def __init__(
        self, engine: MaskingEngine, on_failure: Callable[[MaskFailure], None] | None = None
    ) -> None:
        self._streams = {
            False: StreamMasker(engine, stream="stdout"),
            True: StreamMasker(engine, stream="stderr"),
        }
        self.counter = MaskCounter()
        self.proofs: dict[str, list[str]] = {}
        self.failures: list[MaskFailure] = []
        self._on_failure = on_failure

    @property
    def pending(self) -> bool:
        return any(m.held for m in self._streams.values())

    def _collect(self, masker: StreamMasker) -> None:
        events = masker.take_events()
        if events:
            self.counter.add(events)
            for event in events:
                kept = self.proofs.setdefault(event.detector, [])
                if len(kept) < MAX_PROOFS:
                    kept.append(event.value_hmac)
        for failure in masker.take_failures():
            self.failures.append(failure)
            if self._on_failure is not None:
                self._on_failure(failure)

    def feed(self, data: bytes, stderr: bool) -> bytes:
        masker = self._streams[stderr]
        out = masker.feed(data)
        self._collect(masker)
        return out

    def flush(self, stderr: bool) -> bytes:
        masker = self._streams[stderr]
        out = masker.flush()
        self._collect(masker)
        return out

    def summary(self) -> dict[str, Any]:
        """The masking summary for the audit log (empty when nothing was masked or failed)."""
        if not self.counter.total and not self.failures:
            return {}
        return {
            "total": self.counter.total,
            "counts": self.counter.counts(),
            "value_hmacs": self.proofs,
            "failures": [asdict(f) for f in self.failures],
        }

    def describe(self) -> str:
        """`N values masked (…)` for the user."""
        return self.counter.summary()
