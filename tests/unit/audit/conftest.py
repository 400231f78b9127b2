"""Fixtures for the audit tests: a signed multi-segment log built once, copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.auditchain.signing import Signer
from broker.auditlog.journal import Journal
from broker.auditlog.sinks import SinkDispatcher

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def build_log(directory: Path, key: Ed25519PrivateKey, records: int = 150) -> Path:
    """Write ``records`` records (plus segment headers) in ~4 segments, checkpoint every 40."""
    journal = Journal(
        directory,
        Signer(key),
        SinkDispatcher([]),
        segment_bytes=12_000,
        checkpoint_every=40,
    )
    journal.recover()
    for start in range(0, records, 10):
        items = [
            ("alice", "command.run", "web-1", {"command": f"ls /srv/{n}", "exit": 0, "n": n})
            for n in range(start, min(records, start + 10))
        ]
        journal.write_batch(items)
    journal.close(checkpoint=False)
    return directory


@pytest.fixture(scope="session")
def pristine_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_log(tmp_path_factory.mktemp("pristine") / "audit", KEY)


@pytest.fixture
def log_dir(pristine_log: Path, tmp_path: Path) -> Path:
    target = tmp_path / "audit"
    shutil.copytree(pristine_log, target)
    return target
