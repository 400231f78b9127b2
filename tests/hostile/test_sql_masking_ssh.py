"""Hostile: an ordinary user tries to get personal data out of a PostgreSQL connection unmasked,
through a real ssh client: `sql` in every format, and the SQL console in tmux.

Values hide in arrays, JSON, bytea, composite and domain types, aggregates and functions over
them, aliases, column names, error messages and notices. Then every file the broker wrote
(audit segments, recordings raw and gunzipped, their indexes, an evidence bundle, the log) and
the replayed recording are searched for each planted value.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.test_masking_disk_ssh import unpacked
from tests.harness import PostgresServer
from tests.harness.tmux import TmuxClient
from tests.support.broker import ROOT, BrokerProcess

CARD = "4111 1111 1111 1111"
CARD2 = "5555555555554444"
MAIL = "hostile.planted@example.com"
AWS = "AKIAQ7XJ2RDJ6NNDE4PL"
SSN = "536-22-8726"
NUL_CARD_HEX = "34313131003131313100313131310031313131"
"""4111 1111 1111 1111 with NUL bytes for spaces, as a bytea's text form shows it."""
DIAGNOSIS = "Qz-diagnosis-7731"
"""A value no detector knows: only the `diagnosis` column rule masks it."""
POLICY = """\
access:
  - {name: all, groups: [engineers], connections: ["*"], action: allow}
masking:
  detectors: {enable: all, disable: [ipv4, ipv6]}
  columns: [{match: "(?i)diagnosis", strategy: redact}]
"""
SETUP = f"""\
DROP SCHEMA IF EXISTS hostile_mask CASCADE;
CREATE SCHEMA hostile_mask;
CREATE DOMAIN hostile_mask.card_d AS text;
CREATE TYPE hostile_mask.pair AS (label text, secret text);
CREATE TABLE hostile_mask.mixed (
  id int, card hostile_mask.card_d, pr hostile_mask.pair, arr text[], j jsonb, b bytea,
  t text, diagnosis text, nul bytea);
INSERT INTO hostile_mask.mixed VALUES (1, '{CARD}', ROW('aws', '{AWS}'),
  ARRAY['{MAIL}', 'x'], '{{"k": ["{CARD2}"], "{MAIL}": 1}}', convert_to('ssn {SSN}', 'UTF8'),
  E'card 4111\\x011111\\x021111\\x7f1111 tail', '{DIAGNOSIS}',
  '\\x{NUL_CARD_HEX}'::bytea);
CREATE FUNCTION hostile_mask.noisy() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'notice {CARD} {MAIL}';
  RAISE WARNING 'warning {AWS}';
  RETURN 1;
END $$;
CREATE FUNCTION hostile_mask.boom() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'boom {CARD}' USING DETAIL = 'detail {MAIL}', HINT = 'hint {AWS}';
END $$;
"""
FROM = " from hostile_mask.mixed m"
QUERIES = [
    "select *" + FROM,
    "select card as x, pr as y, arr as z, j as w, b as v, t as u" + FROM,
    "select row_to_json(m)::text, to_jsonb(m), m" + FROM,
    "select m.*, (m.pr).secret" + FROM,
    "select string_agg(card, ','), array_agg(arr), json_agg(j)" + FROM,
    "select upper(card), lower(arr::text), card || '', format('%s', pr), concat_ws(' ', j)" + FROM,
    "select encode(b, 'escape'), convert_from(b, 'UTF8')" + FROM,
    "select card::hostile_mask.card_d, array[pr], array[[card]]" + FROM,
    "select jsonb_pretty(j), j->'k', j->>'k', jsonb_object_keys(j)" + FROM,
    "select (pr).*" + FROM,
    f'select 1 as "{CARD}", 2 as "{MAIL}", 3 as "{AWS}"',
    f"select '{CARD2}' as \"{SSN}\"",
    "select email, ssn, card_number, iban, phone from customers",
    "select row_to_json(c)::text from customers c",
    "table customers",
]
ERRORS = [
    f"select cast('{CARD2}' as int)",
    f"select '{MAIL}'::int",
    f"select '{AWS}'::numeric",
    f"select 1 where '{CARD}'::date is null",
    f'select x from "{MAIL}"',
    f'select "{CARD}" from hostile_mask.mixed',
    "select '{\"a\": 1' || j::text || '{AWS}'::jsonb from hostile_mask.mixed",
    f"select 1 '{CARD}'",
    "select hostile_mask.boom()",
]


def planted(server: PostgresServer, *, diagnosis: bool = True) -> dict[str, str]:
    """The values planted; ``diagnosis=False`` leaves out the one only a column rule masks
    (a whole-row value is masked whole: the test below)."""
    found = {"card": CARD, "card2": CARD2, "mail": MAIL, "aws": AWS, "ssn": SSN}
    found["card split by NULs, as bytea hex"] = NUL_CARD_HEX
    if diagnosis:
        found["diagnosis"] = DIAGNOSIS
    for c in server.customers[:5]:
        found |= {f"{c.id}.email": c.email, f"{c.id}.card": c.card_number, f"{c.id}.ssn": c.ssn}
        found |= {f"{c.id}.iban": c.iban}
    return found


def pieces(value: str) -> set[str]:
    """The value, and its digits alone (a card with its spaces taken out)."""
    out = {value}
    digits = value.replace(" ", "").replace("-", "")
    if digits.isdigit():
        out.add(digits)
    return out


def assert_clean(text: str, values: dict[str, str], where: str) -> None:
    for name, value in values.items():
        for piece in pieces(value):
            assert piece not in text, f"{name} ({piece!r}) in {where}"


@pytest.fixture(scope="module")
def database(postgres_server: PostgresServer) -> PostgresServer:
    server = postgres_server
    server.superuser_psql(f"\\connect {server.database} {server.user}\n{SETUP}")
    return server


@pytest.fixture(scope="module")
def broker(database: PostgresServer) -> Iterator[BrokerProcess]:
    conn = database.connection(read_only=True)
    proc = BrokerProcess({"alice": ["engineers"]}, {"shop-ro": conn}, POLICY)
    proc.set_secret("shop-ro", database.password.encode())
    with proc:
        yield proc


def test_the_table_holds_the_values_in_clear(database: PostgresServer) -> None:
    raw = database.app_psql("select card, pr::text, j::text, t, diagnosis from hostile_mask.mixed")
    assert CARD in raw
    assert AWS in raw
    assert DIAGNOSIS in raw


@pytest.mark.parametrize("fmt", ["aligned", "--csv", "--json"])
@pytest.mark.parametrize("query", QUERIES)
def test_results_are_masked_in_every_format(
    broker: BrokerProcess, database: PostgresServer, query: str, fmt: str
) -> None:
    args = ["--", query] if fmt == "aligned" else [fmt, "--", query]
    result = broker.run_ssh("alice", "sql", "shop-ro", *args)
    assert result.returncode == 0, result.stderr
    assert b"[MASKED:" in result.stdout
    shown = (result.stdout + result.stderr).decode()
    assert_clean(shown, planted(database, diagnosis=False), f"{query} {fmt}")
    if "(m)" not in query and " m," not in query:
        assert DIAGNOSIS not in shown


@pytest.mark.parametrize("query", ERRORS)
def test_error_messages_do_not_echo_values(
    broker: BrokerProcess, database: PostgresServer, query: str
) -> None:
    result = broker.run_ssh("alice", "sql", "shop-ro", "--", query)
    assert result.returncode == 1
    assert result.stderr.strip()
    assert_clean(result.stderr.decode(), planted(database), query)


def test_notices_and_warnings_carry_no_value(
    broker: BrokerProcess, database: PostgresServer
) -> None:
    result = broker.run_ssh("alice", "sql", "shop-ro", "--", "select hostile_mask.noisy()")
    assert result.returncode == 0, result.stderr
    assert_clean((result.stdout + result.stderr).decode(), planted(database), "a notice")


@pytest.mark.parametrize(
    "query",
    [
        "select diagnosis as x from hostile_mask.mixed",
        "select diagnosis || '' from hostile_mask.mixed",
        "select upper(diagnosis), lower(diagnosis) as l from hostile_mask.mixed",
        "select * from (select diagnosis as x from hostile_mask.mixed) s",
        "select * from (select diagnosis from hostile_mask.mixed) s(y)",
        "with w(a) as (select diagnosis from hostile_mask.mixed) select a::text from w",
        "select id::text from hostile_mask.mixed union all select diagnosis from hostile_mask.mixed",
        "select (select diagnosis as k from hostile_mask.mixed limit 1)",
        "select string_agg(x, ',') from (select diagnosis as x from hostile_mask.mixed) s",
        "select substr(diagnosis, 1, 6) a, substr(diagnosis, 7) b from hostile_mask.mixed",
        "select case when true then diagnosis end from hostile_mask.mixed",
    ],
)
@pytest.mark.parametrize("fmt", ["aligned", "--csv", "--json"])
def test_a_column_rule_follows_the_column_through_renames(
    broker: BrokerProcess, query: str, fmt: str
) -> None:
    args = ["--", query] if fmt == "aligned" else [fmt, "--", query]
    result = broker.run_ssh("alice", "sql", "shop-ro", *args)
    assert result.returncode == 0, result.stderr
    assert b"[MASKED:column]" in result.stdout
    for piece in (DIAGNOSIS, DIAGNOSIS[:6], DIAGNOSIS[6:]):
        assert piece.encode() not in result.stdout, piece


@pytest.mark.parametrize(
    "query",
    [
        "select row_to_json(m)::text from hostile_mask.mixed m",
        "select m from hostile_mask.mixed m",
        "select to_jsonb(m.*) from hostile_mask.mixed m",
    ],
)
def test_a_column_rule_follows_the_column_into_whole_rows(
    broker: BrokerProcess, query: str
) -> None:
    result = broker.run_ssh("alice", "sql", "shop-ro", "--csv", "--", query)
    assert result.returncode == 0, result.stderr
    assert DIAGNOSIS.encode() not in result.stdout


def test_the_console_shows_and_records_masked_names_and_values(
    broker: BrokerProcess, database: PostgresServer, tmux_client: Callable[..., TmuxClient]
) -> None:
    client = tmux_client(broker.ssh("alice", tty=True), cols=160, rows=40)
    client.wait_for("type to filter connections", timeout=15)
    client.send_text("shop-ro")
    client.wait_for(re.compile(r"1 of 1 connections"))
    client.send_keys("Enter")
    client.wait_for("F5 or Ctrl+Enter runs", timeout=15)
    values = planted(database)
    for query in (
        f'select 1 as "{CARD}", card, pr, j, b, t from hostile_mask.mixed',
        f"select cast('{CARD2}' as int)",
        "select diagnosis as x from hostile_mask.mixed",
    ):
        client.send_keys("C-l")
        client.send_text(query)
        client.wait_for(query[-20:])
        client.send_keys("F5")
        screen = client.wait_for(re.compile(r"masked|ERROR|rror"), timeout=15)
        shown = "\n".join(ln for ln in screen.splitlines() if "select" not in ln)  # the editor
        assert_clean(shown, values, f"the console after {query}")
    client.send_keys("Escape")
    client.wait_for("SQL console on shop-ro closed.", timeout=10)
    client.send_keys("C-q")
    assert client.wait_exit(timeout=10) == 0


def test_no_file_the_broker_wrote_holds_a_planted_value(
    broker: BrokerProcess, database: PostgresServer
) -> None:
    """Runs last in this module: after every attack above."""
    bundle = broker.dir / "evidence.zip"
    done = broker.cli("evidence", "export", "--since", "1h", "-o", str(bundle))
    assert done.returncode == 0, done.stderr.decode()
    values = planted(database)
    written = [p for p in broker.dir.rglob("*") if p.is_file() and "_ed25519" not in p.name]
    casts = [p for p in written if p.name.endswith((".cast", ".cast.gz"))]
    assert casts, "the console session was not recorded"
    assert any(p.name == "audit-000001.jsonl" for p in written)
    for path in written:
        for blob in unpacked(path.read_bytes()):
            assert_clean(blob.decode("utf-8", "replace"), values, str(path))
    records = [
        json.loads(line)
        for seg in (broker.dir / "state" / "audit").glob("audit-*.jsonl")
        for line in seg.read_text().splitlines()
        if line.strip()
    ]
    assert sum(r["action"] == "sql.statement" for r in records) >= len(QUERIES) * 3
    for cast in casts:
        recording = cast.name.split(".")[0]
        shown = _play(broker, recording)
        assert "[MASKED:" in shown
        assert_clean(shown, values, f"`recordings play {recording}`")


def _play(broker: BrokerProcess, recording: str) -> str:
    """What `gatehouse recordings show` prints and `export` writes of the recording."""
    out = []
    exported = broker.dir / f"{recording}.export.cast"
    for args in (
        ("recordings", "show", recording),
        ("recordings", "export", recording, "-o", str(exported)),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "broker.cli", *args, "-c", str(broker.config)],
            capture_output=True,
            timeout=60,
            cwd=ROOT,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        out.append(done.stdout.decode("utf-8", "replace"))
    out.append(exported.read_text(errors="replace"))
    return "\n".join(out)
