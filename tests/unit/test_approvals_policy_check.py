"""`gatehouse check` validates approval terms of access and command rules, naming file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker import cli

GOOD = """\
access:
  - {name: prod, connections: ["prod-*"], action: approval, approvals: 2, grant: 30m}
commands:
  - {name: restart, argv: [[systemctl, restart, "*"]], action: approval, approvers: [sre]}
"""


def write(tmp_path: Path, policy: str) -> Path:
    (tmp_path / "p.yaml").write_text(policy)
    config = tmp_path / "gatehouse.yaml"
    config.write_text(
        "listen: 127.0.0.1:2222\nstate_dir: ./state\nusers: {}\nconnections: {}\n"
        "policies: [p.yaml]\n"
    )
    return config


def test_check_accepts_approval_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "-c", str(write(tmp_path, GOOD))]) == 0
    assert "1 access rules, 1 command rules" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("grant: 30m", "grant: later", "p.yaml:2: access.0.grant: must be a duration"),
        ("approvers: [sre]", "approvers: sre", "p.yaml:4: commands.0.approvers:"),
        ("approvals: 2", "approvals: 0", "p.yaml:2: access.0.approvals:"),
    ],
)
def test_check_names_file_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, where: str
) -> None:
    config = write(tmp_path, GOOD.replace(old, new))
    assert cli.main(["check", "-c", str(config)]) != 0
    assert where in capsys.readouterr().err
