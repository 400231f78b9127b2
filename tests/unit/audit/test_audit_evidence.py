"""Evidence bundles: a round trip verified in a fresh directory, and tampered bundles refused."""

from __future__ import annotations

import csv
import io
import json
import shutil
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from broker.auditchain.canonical import parse_time
from broker.auditchain.signing import Signer, fingerprint
from broker.auditlog.evidence import export_evidence, verify_evidence
from broker.auditlog.journal import Journal
from broker.auditlog.sinks import SinkDispatcher
from broker.common.errors import AuditVerificationError
from tests.unit.audit.conftest import KEY, OTHER_KEY

PUB = KEY.public_key()
T0 = datetime(2025, 3, 1, tzinfo=UTC)

EVENTS = [
    ("alice", "login.success", "gatehouse", {"fingerprint": "SHA256:abc", "addr": "127.0.0.1"}),
    ("mallory", "login.failure", "gatehouse", {"addr": "127.0.0.9"}),
    ("alice", "session.start", "web-1", {"session": "s1"}),
    ("alice", "command.line", "web-1", {"session": "s1", "line": "=cmd|' /C calc'!A0"}),
    ("alice", "policy.denied", "web-1", {"rule": "no-rm-root", "command": "rm -rf /"}),
    ("alice", "masking.summary", "web-1", {"detector": "email", "count": 2, "hmacs": ["a", "b"]}),
    ("bob", "approval.approved", "prod-db", {"request": "r1", "reason": "incident 7"}),
    ("alice", "sql.statement", "shop-db", {"kind": "select"}),
    ("alice", "session.end", "web-1", {"session": "s1", "exit": 0}),
    ("alice", "recording.closed", "s1", {"sha256": "f" * 64}),
]


@pytest.fixture
def audit_dir(tmp_path: Path) -> Path:
    """One event a day from T0, so periods select by day."""
    directory = tmp_path / "state" / "audit"
    signer = Signer(KEY)
    journal = Journal(directory, signer, SinkDispatcher([]), checkpoint_every=3)
    journal.recover()
    real_seal = signer.seal
    day = iter(range(100))

    def seal_on_day(**kwargs: object) -> object:
        return real_seal(
            **kwargs,
            time=(T0 + timedelta(days=next(day))).strftime(  # type: ignore[arg-type]
                "%Y-%m-%dT%H:%M:%S.%fZ"
            ),
        )

    signer.seal = seal_on_day  # type: ignore[method-assign]
    for event in EVENTS:
        journal.write_batch([event])
    journal.close()
    return directory


def export(audit_dir: Path, out: Path, first_day: int = 0, last_day: int = 50) -> Path:
    export_evidence(
        audit_dir, PUB, T0 + timedelta(days=first_day), T0 + timedelta(days=last_day), out
    )
    return out


def test_round_trip_in_a_fresh_directory(audit_dir: Path, tmp_path: Path) -> None:
    progress: list[tuple[int, int]] = []
    bundle = tmp_path / "out" / "evidence.zip"
    export_evidence(
        audit_dir, PUB, T0 + timedelta(days=3), T0 + timedelta(days=8), bundle,
        progress=lambda done, total: progress.append((done, total)),
    )  # fmt: skip
    fresh = tmp_path / "elsewhere"
    fresh.mkdir()
    moved = fresh / "bundle.zip"
    shutil.move(bundle, moved)
    shutil.rmtree(audit_dir.parent)
    report = verify_evidence(moved, fingerprint(PUB))
    # days 3..8 hold EVENTS[2:7] (segment header is day 0, broker.start is day 1).
    assert (report.first_seq, report.last_seq, report.records) == (4, 9, 6)
    assert parse_time(report.first_time or "") == T0 + timedelta(days=3)
    assert report.tables["commands"] == 1
    assert report.tables["denials"] == 1
    assert report.tables["masking"] == 1
    assert report.tables["approvals"] == 1
    assert report.tables["logins"] == 0
    assert progress
    assert progress[-1][0] == progress[-1][1]


def test_bundle_contents(audit_dir: Path, tmp_path: Path) -> None:
    bundle = export(audit_dir, tmp_path / "e.zip")
    with zipfile.ZipFile(bundle) as z:
        names = set(z.namelist())
        controls = z.read("controls.md").decode()
        commands = list(csv.reader(io.StringIO(z.read("tables/commands.csv").decode())))
        logins = json.loads(z.read("tables/logins.json"))
        anchor = json.loads(z.read("audit/anchor.json"))
    assert {"audit/audit.jsonl", "public_key.pem", "public_key.fingerprint.txt",
            "verification.txt", "verification.json", "controls.md", "manifest.json",
            "tables/sessions.csv", "tables/statements.json", "tables/recordings.csv"} <= names  # fmt: skip
    for control in ["A.9.2.1", "A.9.2.3", "A.12.4.1", "A.12.4.3", "A.18.1.4", "5.15", "5.18",
                    "8.2", "8.11", "8.15", "8.16", "AC-2", "AC-3", "AC-6", "AU-2", "AU-3",
                    "AU-9", "AU-10", "IA-2"]:  # fmt: skip
        line = next(line for line in controls.splitlines() if f"**{control}**" in line)
        assert "`" in line  # names at least one file
    assert commands[0][:5] == ["seq", "time", "actor", "action", "target"]
    assert commands[1][commands[0].index("details.line")].startswith("'=")  # defused formula
    assert [row["actor"] for row in logins] == ["alice", "mallory"]
    assert anchor["first_seq"] == 1


def test_empty_period(audit_dir: Path, tmp_path: Path) -> None:
    report = verify_evidence(export(audit_dir, tmp_path / "e.zip", 70, 80))
    assert report.records == 0


def rewrite(bundle: Path, name: str, change: object, *, fix_manifest: bool = True) -> None:
    with zipfile.ZipFile(bundle) as z:
        files = {n: z.read(n) for n in z.namelist()}
    files[name] = change(files[name]) if callable(change) else change  # type: ignore[assignment]
    if fix_manifest:
        import hashlib

        manifest = {
            n: hashlib.sha256(d).hexdigest() for n, d in files.items() if n != "manifest.json"
        }
        files["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(bundle, "w") as z:
        for n, d in files.items():
            z.writestr(n, d)


@pytest.mark.parametrize(
    ("name", "change", "fix", "message"),
    [
        (
            "audit/audit.jsonl",
            lambda d: d.replace(b"incident 7", b"incident 8"),
            True,
            "bad signature",
        ),
        (
            "audit/audit.jsonl",
            lambda d: d.replace(b"incident 7", b"incident 8"),
            False,
            "manifest hash",
        ),
        (
            "audit/audit.jsonl",
            lambda d: b"".join(d.splitlines(keepends=True)[:-1]),
            True,
            "ends at record",
        ),
        (
            "audit/audit.jsonl",
            lambda d: b"".join(d.splitlines(keepends=True)[1:]),
            True,
            "record 1",
        ),
        ("audit/audit.jsonl", lambda d: d[:-5], True, "truncated line"),
        (
            "audit/anchor.json",
            lambda d: d.replace(b'"prev": "0', b'"prev": "1'),
            True,
            "broken chain",
        ),
        (
            "tables/denials.csv",
            lambda d: d.replace(b"no-rm-root", b"allow-all"),
            True,
            "does not match",
        ),
        ("controls.md", lambda d: d + b"- extra\n", True, "does not match"),
        ("public_key.fingerprint.txt", b"SHA256:00\n", True, "does not match public_key.pem"),
        ("public_key.pem", b"not a key", True, "cannot load"),
        (
            "audit/checkpoints.jsonl",
            lambda d: d.replace(b'"seq":4', b'"seq":5'),
            True,
            "checkpoint",
        ),
    ],
)
def test_tampered_bundle_is_refused(
    audit_dir: Path, tmp_path: Path, name: str, change: object, fix: bool, message: str
) -> None:
    bundle = export(audit_dir, tmp_path / "e.zip")
    rewrite(bundle, name, change, fix_manifest=fix)
    with pytest.raises(AuditVerificationError, match=message):
        verify_evidence(bundle)


def test_bundle_with_an_extra_file_is_refused(audit_dir: Path, tmp_path: Path) -> None:
    bundle = export(audit_dir, tmp_path / "e.zip")
    with zipfile.ZipFile(bundle, "a") as z:
        z.writestr("extra.txt", b"hello")
    with pytest.raises(AuditVerificationError, match="exactly the files"):
        verify_evidence(bundle)


def test_expected_fingerprint_must_match(audit_dir: Path, tmp_path: Path) -> None:
    bundle = export(audit_dir, tmp_path / "e.zip")
    with pytest.raises(AuditVerificationError, match="expected"):
        verify_evidence(bundle, fingerprint(OTHER_KEY.public_key()))


def test_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"PK nonsense")
    with pytest.raises(AuditVerificationError, match="not a readable zip"):
        verify_evidence(tmp_path / "x.zip")


def test_export_refuses_a_broken_log(audit_dir: Path, tmp_path: Path) -> None:
    segment = audit_dir / "audit-000001.jsonl"
    segment.write_bytes(segment.read_bytes().replace(b"incident 7", b"incident 9"))
    with pytest.raises(AuditVerificationError, match="bad signature"):
        export(audit_dir, tmp_path / "e.zip")
    assert not (tmp_path / "e.zip").exists()


def test_recording_hashes(audit_dir: Path, tmp_path: Path) -> None:
    cast = tmp_path / "s1.cast"
    cast.write_bytes(b"x")
    import hashlib

    # Re-export with a recording whose hash is not in the log, then check the listing.
    bundle = tmp_path / "e.zip"
    export_evidence(audit_dir, PUB, T0, T0 + timedelta(days=50), bundle, recordings=[cast])
    with zipfile.ZipFile(bundle) as z:
        listing = z.read("recordings/files.csv").decode().splitlines()
    assert listing[1] == f"s1.cast,{hashlib.sha256(b'x').hexdigest()},"
    verify_evidence(bundle)
