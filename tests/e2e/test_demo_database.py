"""`gatehouse demo` with its private PostgreSQL: a real OpenSSH client runs the printed `sql`
example and gets masked results; the database is read-only; it stops with the demo."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from broker.runtime import demo as demo_module
from broker.runtime.demo_data import customers
from broker.runtime.demo_postgres import HOW_TO_GET, find_pg_bin
from tests.e2e.test_demo_sshd import demo
from tests.harness.process import free_port, pid_alive, wait_until
from tests.harness.ssh_client import ssh_client_argv

pytestmark = pytest.mark.skipif(find_pg_bin() is None, reason="no PostgreSQL server binaries")


def sql(directory: Path, port: int, *args: str) -> tuple[int, str, str]:
    import subprocess

    key = directory / "demo_ed25519"
    argv = ssh_client_argv(port, "demo", key, "sql", "db", *args, tty=False)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, done.stdout, done.stderr


def stopped(pid: int) -> None:
    """The postmaster exits within seconds of the demo (pg_ctl waited for its shutdown)."""
    wait_until(lambda: True if not pid_alive(pid) else None, timeout=15, what=f"{pid} to exit")


def postmaster(printed: str) -> int:
    found = re.search(r"started PostgreSQL \(PID (\d+)\) on 127\.0\.0\.1:\d+", printed)
    assert found is not None, printed
    return int(found[1])


def test_the_demo_database_shows_masked_results_and_stops_with_the_demo(tmp_path: Path) -> None:
    home, directory = tmp_path / "home", tmp_path / "demo"
    home.mkdir()
    port = free_port()
    rows = customers()[:5]
    with demo(directory, home, port) as printed:
        assert "sql db -- 'select * from customers limit 5'" in printed
        pid = postmaster(printed)
        status, out, err = sql(directory, port, "--", "select * from customers limit 5")
        assert status == 0, err
        lines = out.rstrip("\n").splitlines()
        assert lines[0].split("|")[0].strip() == "id"
        assert lines[-1] == "(5 rows)"
        for row in rows:
            for value in row[2:7]:  # email, phone, card, IBAN, SSN
                assert value not in out, value
        assert out.count("[MASKED:email]") == 5
        assert "[MASKED:credit_card]" in out
        assert "[MASKED:iban]" in out
        assert "values masked" in err
        status, out, err = sql(
            directory, port, "--csv", "--", "select name, city from customers where id = 1"
        )
        assert status == 0, err
        assert out == f"name,city\n{rows[0][1]},{rows[0][7]}\n"
        status, out, err = sql(directory, port, "--", "delete from customers")
        assert status == 1
        assert "read-only connection" in err
    stopped(pid)
    with demo(directory, home, port) as printed:
        assert "reused vault credential 'demo-postgres'" in printed
        status, out, err = sql(directory, port, "--csv", "--", "select count(*) from customers")
        assert status == 0, err
        assert out == "count\n200\n"
        second = postmaster(printed)
    stopped(second)


def test_without_the_binaries_the_demo_says_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo_module, "find_pg_bin", lambda: None)
    server, database, notes = demo_module._start_database(tmp_path)
    assert (server, database) == (None, None)
    assert notes == [HOW_TO_GET]
    assert "apt-get install postgresql" in HOW_TO_GET
    assert os.listdir(tmp_path) == []
