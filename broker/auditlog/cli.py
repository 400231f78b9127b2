"""The ``gatehouse audit`` and ``gatehouse evidence`` commands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from broker.auditlog.evidence import export_evidence, verify_evidence
from broker.auditlog.keys import load_state_public_key
from broker.auditlog.query import RecordFilter, parse_time, read_recent
from broker.auditlog.segments import load_checkpoints, verify_log
from broker.common.errors import AuditVerificationError, GatehouseError
from broker.common.text import escape_controls, escape_json_controls

StateDirResolver = Callable[[argparse.Namespace], Path]


def parse_when(text: str, *, now: datetime | None = None) -> datetime:
    """Parse a time argument: RFC 3339 / ISO 8601 (naive means UTC), a date, or ``7d`` ago.

    Raises:
        argparse.ArgumentTypeError: Not a time.
    """
    try:
        return parse_time(text, now=now)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    resolve_state_dir: StateDirResolver | None = None,
) -> None:
    """Register ``audit verify|tail`` and ``evidence export|verify`` on ``sub``.

    Each command sets ``args.func(args) -> int``. Handlers read ``args.state_dir`` (a Path the
    caller sets); failing that they call ``resolve_state_dir(args)``.
    """
    audit = sub.add_parser("audit", help="verify or show the audit log").add_subparsers(
        dest="audit_command", required=True
    )
    verify = audit.add_parser(
        "verify",
        help="verify chain, signatures, segments, checkpoints",
        description=(
            "Verify the audit log: the hash chain through every record, the links between"
            " segments, the signatures (the chain anchors each record to the last signature"
            " checked; --every-signature checks each one), and the signed checkpoints, the latest"
            " of which catches a truncated tail. Exits 0 when intact; otherwise exits 1 naming"
            " the first bad record."
        ),
    )
    verify.add_argument("--since", type=parse_when, help="start at the segment holding this time")
    verify.add_argument("--every-signature", action="store_true", help="check each signature")
    verify.add_argument("--checkpoints", type=Path, help="checkpoints from a sink file to hold to")
    verify.set_defaults(func=_bind(_verify, resolve_state_dir))
    tail = audit.add_parser("tail", help="show recent records and their verification status")
    tail.add_argument("-n", type=int, default=20, help="how many records (default 20)")
    tail.add_argument("--user", default="", help="only records by this actor")
    tail.add_argument("--action", default="", help="only this action, or a prefix like login.")
    tail.add_argument("--json", action="store_true", help="print the stored JSON lines")
    tail.set_defaults(func=_bind(_tail, resolve_state_dir))

    evidence = sub.add_parser("evidence", help="the auditor's evidence bundle").add_subparsers(
        dest="evidence_command", required=True
    )
    export = evidence.add_parser("export", help="write a verified bundle for a period")
    export.add_argument("--since", type=parse_when, required=True)
    export.add_argument("--until", type=parse_when, default=None, help="default: now")
    export.add_argument("-o", "--output", type=Path, required=True, help="FILE.zip")
    export.set_defaults(func=_bind(_export, resolve_state_dir))
    check = evidence.add_parser("verify", help="verify a bundle offline")
    check.add_argument("bundle", type=Path)
    check.add_argument("--fingerprint", help="the signing key fingerprint you expect")
    check.set_defaults(func=_verify_bundle)


def no_state_dir_message(args: argparse.Namespace) -> str:
    """Where the command looked for a config, and what to pass instead."""
    looked = getattr(args, "config_looked", None)
    where = f"no config file at {Path(looked).resolve()}" if looked else "no config file given"
    return (
        f"gatehouse: no state dir: {where}.\n"
        "  pass -c PATH/TO/gatehouse.yaml (or set GATEHOUSE_CONFIG), or run this in the folder"
        " that holds gatehouse.yaml"
    )


def human_size(n: int) -> str:
    """``n`` bytes as B, KiB, MiB or GiB with one decimal where it helps."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} B"


def _bind(
    handler: Callable[[argparse.Namespace, Path], int], resolve: StateDirResolver | None
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        state_dir = getattr(args, "state_dir", None)
        if state_dir is None and resolve is not None:
            state_dir = resolve(args)
        if state_dir is None:
            print(no_state_dir_message(args), file=sys.stderr)
            return 2
        try:
            return handler(args, Path(state_dir))
        except AuditVerificationError as exc:
            _say(f"audit log FAILED verification: {exc}", file=sys.stderr)
            return 1
        except GatehouseError as exc:
            _say(f"gatehouse: {exc}", file=sys.stderr)
            return 2

    return run


def _say(line: str, *, file: TextIO | None = None) -> None:
    """Print a line that quotes records, files or errors, its control characters escaped."""
    print(escape_controls(line), file=file)


def _verify(args: argparse.Namespace, state_dir: Path) -> int:
    key = load_state_public_key(state_dir)
    checkpoints = None
    if args.checkpoints is not None:
        checkpoints = load_checkpoints(args.checkpoints)
    report = verify_log(
        state_dir / "audit",
        key,
        args.since,
        checkpoints=checkpoints,
        every_signature=args.every_signature,
    )
    if report.records == 0 and args.since is None:
        # keys exist (loaded above) only where a broker started, and its first record is
        # broker.start: an empty log was deleted or moved, not intact
        _say(
            f"audit log FAILED verification: no records in {state_dir / 'audit'}, although the"
            " state dir holds a signing key (a broker that ran here wrote broker.start first)",
            file=sys.stderr,
        )
        return 1
    if report.checkpoints_matched == 0 and report.records:
        _say(
            "warning: no checkpoint was checked; records cut from the tail would go unnoticed"
            " (pass --checkpoints FILE from a sink)",
            file=sys.stderr,
        )
    _say(
        f"audit log intact: {report.records} records (seq {report.first_seq}..{report.last_seq},"
        f" {report.first_time} to {report.last_time}) in {report.segments} segments;"
        f" {report.checkpoints_matched} checkpoints matched; keys {', '.join(report.key_ids)}"
    )
    return 0


def _tail(args: argparse.Namespace, state_dir: Path) -> int:
    where = RecordFilter(actor=args.user, action=args.action)
    views = read_recent(state_dir / "audit", load_state_public_key(state_dir), args.n, where)
    bad = 0
    for view in views:
        bad += not view.ok
        if args.json:
            print(escape_json_controls(view.line.decode("utf-8", "replace")))
        elif view.record is None:
            _say(f"?      {view.segment}: {view.status}")
        else:
            rec = view.record
            mark = "ok" if view.ok else f"BAD ({view.status})"
            details = json.dumps(rec.details, ensure_ascii=False, sort_keys=True)
            _say(f"{rec.seq:>6} {rec.time} {rec.actor} {rec.action} {rec.target} {details} {mark}")
    return 1 if bad else 0


def _export(args: argparse.Namespace, state_dir: Path) -> int:
    until = args.until or datetime.now(UTC)

    def progress(done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        print(f"\rreading audit log: {percent:3d}% ({human_size(done)} of {human_size(total)})",
              end="", file=sys.stderr, flush=True)  # fmt: skip

    report = export_evidence(
        state_dir / "audit",
        load_state_public_key(state_dir),
        args.since,
        until,
        args.output,
        progress=progress,
    )
    print(file=sys.stderr)
    _say(
        f"wrote {args.output}: {report.records} records (seq {report.first_seq}.."
        f"{report.last_seq}), key {report.fingerprint}"
    )
    return 0


def _verify_bundle(args: argparse.Namespace) -> int:
    try:
        report = verify_evidence(args.bundle, args.fingerprint)
    except AuditVerificationError as exc:
        _say(f"evidence bundle FAILED verification: {exc}", file=sys.stderr)
        return 1
    tables = ", ".join(f"{name} {count}" for name, count in report.tables.items() if count)
    _say(
        f"evidence bundle intact: {report.records} records (seq {report.first_seq}.."
        f"{report.last_seq}, {report.first_time} to {report.last_time}), every signature"
        f" verified with {report.fingerprint}; tables: {tables or 'empty'}"
    )
    return 0
