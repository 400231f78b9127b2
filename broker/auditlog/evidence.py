"""The auditor's evidence bundle: export a verified slice of the log with tables, and verify it."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from broker.auditchain.canonical import GENESIS, chain_hash, format_time
from broker.auditchain.controls import controls_markdown
from broker.auditchain.record import AuditRecord, RecordFormatError, parse_checkpoint, parse_record
from broker.auditchain.signing import KeyRing, fingerprint
from broker.auditchain.tables import build_tables, table_csv, table_json
from broker.auditchain.verify import ChainVerifier, VerifyReport
from broker.auditlog.keys import parse_public_key, public_pem
from broker.auditlog.segments import CHECKPOINTS, load_checkpoints, verify_log
from broker.common.errors import AuditVerificationError, GatehouseError

SLICE = "audit/audit.jsonl"
ANCHOR = "audit/anchor.json"
SLICE_CHECKPOINTS = "audit/checkpoints.jsonl"
MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class EvidenceReport:
    """What a bundle holds, once verified."""

    records: int
    """Records in the slice."""
    first_seq: int | None
    """Seq of the first record of the slice."""
    last_seq: int | None
    """Seq of the last record."""
    first_time: str | None
    """Time of the first record."""
    last_time: str | None
    """Time of the last record."""
    since: str
    """Start of the period asked for."""
    until: str
    """End of the period asked for."""
    fingerprint: str
    """Fingerprint of the key that signed the records."""
    tables: dict[str, int]
    """Rows per evidence table."""
    checkpoints_matched: int
    """Signed checkpoints inside the slice that agree with it."""


def export_evidence(
    audit_dir: Path,
    public_key: Ed25519PublicKey,
    since: datetime,
    until: datetime,
    out_zip: Path,
    recordings: Sequence[Path] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvidenceReport:
    """Verify the whole log, then write the records of ``[since, until]`` as an evidence bundle.

    Args:
        audit_dir: The audit directory (``<state_dir>/audit``).
        public_key: The audit public key (the bundle carries it and its fingerprint).
        since: Start of the period (inclusive).
        until: End of the period (inclusive).
        out_zip: The zip file to write.
        recordings: Recording files whose SHA-256 to list beside the ``recording.closed``
            records (a file's hash matching a record proves the file is the one recorded).
        progress: Called with (bytes read, bytes in all) while the log is read.

    Returns:
        The report of what was exported.

    Raises:
        AuditVerificationError: The log does not verify; nothing is written.
    """
    lo, hi = format_time(since), format_time(until)
    picked: list[tuple[AuditRecord, bytes]] = []
    before = [GENESIS]
    ended = [False]

    def visit(record: AuditRecord, line: bytes) -> None:
        # The slice is contiguous: from the first record at or after ``since`` to the last one
        # before the first record after ``until``, whatever the clock did in between.
        if ended[0]:
            return
        if record.time > hi:
            ended[0] = True
        elif picked or record.time >= lo:
            picked.append((record, line))
        else:
            before[0] = chain_hash(line)

    verify_log(audit_dir, public_key, visit=visit, progress=progress, every_signature=False)
    first_seq = picked[0][0].seq if picked else None
    last_seq = picked[-1][0].seq if picked else None
    points = [
        point
        for point in load_checkpoints(audit_dir / CHECKPOINTS)
        if first_seq is not None and last_seq is not None and first_seq <= point.seq <= last_seq
    ]
    files: dict[str, bytes] = {
        SLICE: b"".join(line + b"\n" for _record, line in picked),
        SLICE_CHECKPOINTS: b"".join(point.line() for point in points),
        "public_key.pem": public_pem(public_key),
        "public_key.fingerprint.txt": (fingerprint(public_key) + "\n").encode(),
    }
    anchor = {
        "first_seq": first_seq,
        "prev": before[0] if picked else None,
        "last_seq": last_seq,
        "last_hash": chain_hash(picked[-1][1]) if picked else None,
        "since": lo,
        "until": hi,
    }
    files[ANCHOR] = _json(anchor)
    derived, report = _derived(files, _check(files), [record for record, _ in picked], recordings)
    files.update(derived)
    files[MANIFEST] = _json(
        {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    )
    out_zip.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = out_zip.with_name(out_zip.name + ".partial")
    # 0600 like the log it is cut from: the bundle holds every command and who ran it
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(fd, 0o600)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name, data in sorted(files.items()):
                bundle.writestr(name, data)
    partial.replace(out_zip)
    return report


def verify_evidence(zip_path: Path, expected_fingerprint: str | None = None) -> EvidenceReport:
    """Verify a bundle with nothing but the zip: hashes, chain, every signature, tables.

    Args:
        zip_path: The bundle.
        expected_fingerprint: When given, the bundle's key must have this fingerprint (compare
            it with one obtained independently, or a forger's own key would verify).

    Returns:
        What the bundle holds.

    Raises:
        AuditVerificationError: Naming the first problem found.
    """
    try:
        with zipfile.ZipFile(zip_path) as bundle:
            files = {name: bundle.read(name) for name in bundle.namelist()}
    except (OSError, zipfile.BadZipFile) as exc:
        raise AuditVerificationError(f"{zip_path}: not a readable zip: {exc}") from None
    try:
        manifest = json.loads(files.pop(MANIFEST))
    except (KeyError, ValueError):
        raise AuditVerificationError(f"{MANIFEST}: missing or malformed") from None
    if not isinstance(manifest, dict) or set(manifest) != set(files):
        raise AuditVerificationError(f"{MANIFEST}: does not list exactly the files of the bundle")
    for name, data in files.items():
        if manifest[name] != hashlib.sha256(data).hexdigest():
            raise AuditVerificationError(f"{name}: content differs from its manifest hash")
    report = _check(files)
    if expected_fingerprint is not None and report.fingerprint != expected_fingerprint:
        raise AuditVerificationError(
            f"public_key.pem: fingerprint {report.fingerprint}, expected {expected_fingerprint}"
        )
    records = [parse_record(line) for line in files[SLICE].splitlines()]
    derived, report = _derived(files, report, records, None, recompute_files=False)
    for name, data in derived.items():
        if files.get(name) != data:
            raise AuditVerificationError(f"{name}: does not match the verified records")
    return report


def _check(files: dict[str, bytes]) -> EvidenceReport:
    """Verify the slice in ``files`` against its key, anchor and checkpoints."""
    try:
        key = parse_public_key(files["public_key.pem"], "public_key.pem")
        anchor = json.loads(files[ANCHOR])
        stated = files["public_key.fingerprint.txt"].decode().strip()
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        raise AuditVerificationError(f"bundle is incomplete or malformed: {exc}") from None
    except GatehouseError as exc:
        raise AuditVerificationError(str(exc)) from None
    if not isinstance(anchor, dict):
        raise AuditVerificationError(f"{ANCHOR}: not a JSON object")
    if stated != fingerprint(key):
        raise AuditVerificationError("public_key.fingerprint.txt: does not match public_key.pem")
    try:
        points = [parse_checkpoint(line) for line in files[SLICE_CHECKPOINTS].splitlines()]
    except (KeyError, RecordFormatError) as exc:
        raise AuditVerificationError(f"{SLICE_CHECKPOINTS}: {exc}") from None
    verifier = ChainVerifier(
        KeyRing([key]),
        first_seq=anchor.get("first_seq"),
        first_prev=anchor.get("prev"),
        every_signature=True,
        segmented=False,
        checkpoints=points,
    )
    verifier.begin_segment(SLICE, None)
    data = files[SLICE]
    if data and not data.endswith(b"\n"):
        verifier.fail("truncated line (no newline at the end of the slice)", 0)
    for lineno, line in enumerate(data.splitlines(), start=1):
        verifier.feed(line, lineno)
    result = verifier.finish()
    _match_anchor(anchor, result)
    return EvidenceReport(
        records=result.records,
        first_seq=result.first_seq,
        last_seq=result.last_seq,
        first_time=result.first_time,
        last_time=result.last_time,
        since=str(anchor.get("since")),
        until=str(anchor.get("until")),
        fingerprint=stated,
        tables={},
        checkpoints_matched=result.checkpoints_matched,
    )


def _match_anchor(anchor: dict[str, Any], result: VerifyReport) -> None:
    last_hash = result.last_hash if result.records else None
    if anchor.get("last_seq") != result.last_seq or anchor.get("last_hash") != last_hash:
        raise AuditVerificationError(
            f"{ANCHOR}: the slice ends at record {result.last_seq}, "
            f"not at record {anchor.get('last_seq')} as stated (records removed from the end)",
            seq=result.last_seq,
            segment=SLICE,
        )
    if result.records and (result.first_time or "") < str(anchor.get("since")):
        raise AuditVerificationError(f"{ANCHOR}: the slice starts before its period", segment=SLICE)
    if result.records and (result.last_time or "") > str(anchor.get("until")):
        raise AuditVerificationError(f"{ANCHOR}: the slice ends after its period", segment=SLICE)


def _derived(
    files: dict[str, bytes],
    report: EvidenceReport,
    records: list[AuditRecord],
    recordings: Sequence[Path] | None,
    *,
    recompute_files: bool = True,
) -> tuple[dict[str, bytes], EvidenceReport]:
    tables = build_tables(records)
    counts = {name: len(rows) for name, rows in tables.items()}
    report = replace(report, tables=counts)
    out: dict[str, bytes] = {}
    for name, rows in tables.items():
        out[f"tables/{name}.csv"] = table_csv(rows)
        out[f"tables/{name}.json"] = table_json(rows)
    out["controls.md"] = controls_markdown(
        counts, since=report.since, until=report.until, fingerprint=report.fingerprint
    ).encode()
    summary = {**asdict(report), "verified": True, "every_signature": True}
    out["verification.json"] = _json(summary)
    out["verification.txt"] = _text_report(report).encode()
    if recompute_files and recordings:
        out["recordings/files.csv"] = _recording_hashes(recordings, tables["recordings"])
    elif "recordings/files.csv" in files:
        out["recordings/files.csv"] = files["recordings/files.csv"]
    return out, report


def _recording_hashes(paths: Sequence[Path], closed: list[AuditRecord]) -> bytes:
    known = {str(record.details.get("sha256")): record.seq for record in closed}
    lines = ["file,sha256,audit_seq"]
    for path in paths:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{path.name},{digest},{known.get(digest, '')}")
    return ("\n".join(lines) + "\n").encode()


def _text_report(report: EvidenceReport) -> str:
    return (
        "Gatehouse audit evidence: verification report\n\n"
        f"Result: VERIFIED. {report.records} records, seq {report.first_seq} to "
        f"{report.last_seq}, from {report.first_time} to {report.last_time}.\n"
        f"Period asked for: {report.since} to {report.until}.\n"
        f"Signing key: {report.fingerprint} (compare with the fingerprint the operator gave you).\n"
        "Checked: every record's Ed25519 signature, its canonical encoding, consecutive seq, and\n"
        "each record's prev against the SHA-256 chain hash of the record before; the first\n"
        "record's prev is the hash of the record preceding the period (audit/anchor.json).\n"
        f"Signed checkpoints inside the period that agree: {report.checkpoints_matched}.\n"
        "Re-check offline: gatehouse evidence verify THIS.zip\n"
    )


def _json(value: object) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False).encode() + b"\n"
