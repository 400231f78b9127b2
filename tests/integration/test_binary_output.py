"""Binary output through the real broker and a real sshd: byte-exact under `pass`, refused else."""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.sshd import SshdTarget
from tests.support.broker import BrokerProcess

POLICY = """\
access:
  - {name: eng, groups: [engineers], connections: ["*"], action: allow}
masking:
  overrides:
    - {name: downloads, connections: [files], binary: pass}
"""
SIZE = 10 * 1024 * 1024
BLOB = random.Random(12).randbytes(SIZE)
"""10 MiB of random bytes: it holds e-mail-like runs (`K@B.UZ`) a text masker would take."""


@pytest.fixture(scope="module")
def blob_name(sshd_target: SshdTarget) -> str:
    name = f"blob-{secrets.token_hex(4)}.bin"
    sshd_target.write_home_file(name, BLOB)
    return name


@pytest.fixture(scope="module")
def broker(sshd_target: SshdTarget) -> Iterator[BrokerProcess]:
    conn = {
        "type": "ssh",
        "host": "127.0.0.1",
        "port": sshd_target.port,
        "user": sshd_target.user,
        "host_key": sshd_target.host_key_line,
    }
    connections = {name: {**conn, "credential": name} for name in ("files", "web")}
    proc = BrokerProcess({"alice": ["engineers"]}, connections, POLICY)
    for name in connections:
        proc.set_secret(name, sshd_target.client_key.read_bytes())
    with proc:
        yield proc


def _audit(broker: BrokerProcess, action: str) -> list[dict[str, Any]]:
    records = []
    for path in sorted((broker.dir / "state" / "audit").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record["action"] == action:
                records.append(record["details"])
    return records


def _recording(broker: BrokerProcess, session: str) -> bytes:
    path: Path = broker.dir / "state" / "recordings" / f"{session}.cast"
    return path.read_bytes()


def test_binary_passes_byte_exact_under_pass_and_is_recorded_as_size_and_hash(
    broker: BrokerProcess, blob_name: str
) -> None:
    result = broker.run_ssh("alice", "run", "files", "--", f"cat {blob_name}", timeout=300)
    assert result.returncode == 0, result.stderr[-500:]
    assert len(result.stdout) == SIZE
    assert result.stdout == BLOB
    assert result.stderr == b""
    summaries = [s for s in _audit(broker, "masking.summary") if "binary" in s]
    assert summaries, "binary output is audited"
    seen = summaries[-1]["binary"]["stdout"]
    # A first chunk of a few bytes is judged on its own and may read as text (decision 020);
    # from the first binary block on, the run is binary to its end.
    at = seen["offset"]
    assert at < 64
    binary = BLOB[at:]
    digest = hashlib.sha256(binary).hexdigest()
    assert seen == {"action": "passed", "offset": at, "bytes": len(binary), "sha256": digest}
    assert summaries[-1]["policy"] == "downloads"
    cast = _recording(broker, summaries[-1]["session"])
    assert len(cast) < 64 * 1024, "the bytes are not recorded as text"
    assert f"{len(binary)} bytes of binary output, sha256 {digest}".encode() in cast


def test_binary_is_refused_with_a_message_and_a_non_zero_exit(
    broker: BrokerProcess, blob_name: str
) -> None:
    result = broker.run_ssh(
        "alice", "run", "web", "--", f"echo starting; cat {blob_name}", timeout=300
    )
    assert result.returncode != 0
    assert b"binary output" in result.stderr
    assert b"binary: refuse" in result.stderr
    # Text before the binary block is shown (when it arrived on its own); of the binary, at
    # most a first fragment too short to judge (decision 020).
    assert result.stdout[:9] in (b"starting\n", b"")
    assert len(result.stdout) < 9 + 64
    refused = [s for s in _audit(broker, "masking.summary") if "binary" in s][-1]
    assert refused["binary"]["stdout"]["action"] == "refused"
    assert refused["binary"]["stdout"]["offset"] < len(result.stdout) + 64
    assert refused["policy"] == "default"
    cast = _recording(broker, refused["session"])
    assert b"binary output refused (binary: refuse)" in cast
    assert len(cast) < 64 * 1024
