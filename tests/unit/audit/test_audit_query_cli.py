"""Reading recent records for the audit pane, and the audit/evidence commands."""

from __future__ import annotations

import argparse
import asyncio
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from broker.auditlog.cli import add_commands, parse_when
from broker.auditlog.keys import generate_signing_key, key_paths, load_signing_key
from broker.auditlog.query import RecordFilter, read_recent
from broker.auditlog.writer import AuditLog
from broker.common.errors import GatehouseError


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    key = generate_signing_key(key_paths(state)[0])

    async def fill() -> None:
        async with await AuditLog.open(state / "audit", key, segment_bytes=4_000) as log:
            for n in range(40):
                actor = "alice" if n % 2 else "bob"
                await log.append(actor, "command.run" if n % 3 else "login.success", f"c{n % 4}")

    asyncio.run(fill())
    return state


def run(state_dir: Path | None, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    if state_dir is not None:
        args.state_dir = state_dir
    return int(args.func(args))


def test_key_file_is_private_and_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit_ed25519"
    generate_signing_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_signing_key(path)
    with pytest.raises(GatehouseError, match="already exists"):
        generate_signing_key(path)
    (tmp_path / "bad").write_bytes(b"nope")
    with pytest.raises(GatehouseError, match="cannot load"):
        load_signing_key(tmp_path / "bad")


def test_read_recent_newest_last_with_status(state_dir: Path) -> None:
    key = load_signing_key(key_paths(state_dir)[0]).public_key()
    views = read_recent(state_dir / "audit", key, limit=5)
    assert len(views) == 5
    seqs = [v.record.seq for v in views if v.record]
    assert seqs == sorted(seqs)
    assert all(v.ok and v.status == "verified" for v in views)


def test_read_recent_filters(state_dir: Path) -> None:
    key = load_signing_key(key_paths(state_dir)[0]).public_key()
    views = read_recent(
        state_dir / "audit", key, 100, RecordFilter(actor="alice", action="command.")
    )
    assert views
    assert all(v.record and v.record.actor == "alice" for v in views)
    assert all(v.record and v.record.action == "command.run" for v in views)
    views = read_recent(state_dir / "audit", key, 100, RecordFilter(target="c1"))
    assert len(views) == 10
    future = datetime.now(UTC) + timedelta(days=1)
    assert read_recent(state_dir / "audit", key, 100, RecordFilter(since=future)) == []


def test_read_recent_flags_a_bad_record(state_dir: Path) -> None:
    key = load_signing_key(key_paths(state_dir)[0]).public_key()
    segment = sorted((state_dir / "audit").glob("audit-*.jsonl"))[-1]
    body = segment.read_bytes().splitlines(keepends=True)
    body[-2] = body[-2].replace(b'"alice"', b'"alicf"').replace(b'"bob"', b'"bpb"')
    segment.write_bytes(b"".join(body))
    views = read_recent(state_dir / "audit", key, 3)
    assert [v.ok for v in views] == [True, False, False]
    assert views[1].status == "bad signature"
    assert views[2].status.startswith("broken chain")


def test_audit_verify_command(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(state_dir, "audit", "verify") == 0
    assert "audit log intact: 45 records" in capsys.readouterr().out
    assert run(state_dir, "audit", "verify", "--every-signature", "--since", "1h") == 0


def test_audit_verify_command_names_the_bad_record(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    segment = state_dir / "audit" / "audit-000002.jsonl"
    body = segment.read_bytes().splitlines(keepends=True)
    del body[3]
    segment.write_bytes(b"".join(body))
    assert run(state_dir, "audit", "verify") == 1
    err = capsys.readouterr().err
    assert "FAILED" in err
    assert "audit-000002.jsonl:4" in err
    assert "seq gap" in err


def test_audit_tail_command(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(state_dir, "audit", "tail", "-n", "3") == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3
    assert out[-1].endswith(" ok")
    assert run(state_dir, "audit", "tail", "-n", "2", "--json", "--user", "bob") == 0
    assert capsys.readouterr().out.count('"actor":"bob"') == 2


def test_evidence_commands(
    state_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "e.zip"
    assert run(state_dir, "evidence", "export", "--since", "1d", "-o", str(out)) == 0
    captured = capsys.readouterr()
    assert "reading audit log: 100%" in captured.err
    assert "wrote" in captured.out
    assert run(None, "evidence", "verify", str(out)) == 0
    assert "evidence bundle intact: 45 records" in capsys.readouterr().out
    with zipfile.ZipFile(out, "a") as z:
        z.writestr("sneaky.txt", "x")
    assert run(None, "evidence", "verify", str(out)) == 1
    assert "FAILED" in capsys.readouterr().err


def test_missing_state_dir_and_missing_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(None, "audit", "verify") == 2
    assert run(tmp_path / "nothing", "audit", "verify") == 2
    assert "cannot" in capsys.readouterr().err


def test_resolver_is_used_when_state_dir_is_unset(state_dir: Path) -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"), lambda args: state_dir)
    args = parser.parse_args(["audit", "verify"])
    assert args.func(args) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-31", datetime(2025, 1, 31, tzinfo=UTC)),
        ("2025-01-31T12:00:00Z", datetime(2025, 1, 31, 12, tzinfo=UTC)),
        ("2025-01-31T13:00:00+01:00", datetime(2025, 1, 31, 12, tzinfo=UTC)),
        ("7d", datetime(2025, 1, 24, tzinfo=UTC)),
        ("90m", datetime(2025, 1, 30, 22, 30, tzinfo=UTC)),
        ("now", datetime(2025, 1, 31, tzinfo=UTC)),
    ],
)
def test_parse_when(text: str, expected: datetime) -> None:
    assert parse_when(text, now=datetime(2025, 1, 31, tzinfo=UTC)) == expected


@pytest.mark.parametrize("bad", ["", "yesterday", "7y", "-1d", "2025-13-01"])
def test_parse_when_refuses(bad: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_when(bad)
