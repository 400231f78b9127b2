"""`gatehouse check` in one pass: every error in the config and every policy file, each
`file:line: key: message`; malformed keys refused; groups nobody holds warned about."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.cli import main
from broker.common.errors import ConfigError
from broker.common.yamlsrc import parse_yaml
from broker.config.lint import unheld_groups
from broker.config.load import load_all
from broker.config.model import load_config
from tests.unit.test_config import KEY

CONFIG = f"""\
listen: 127.0.0.1:2222
state_dir: ./state
users:
  alice: {{keys: ["{KEY}"], groups: [engineers]}}
  bob: {{keys: ["ssh-ed25519 AAAA-this-is-not!base64 bob@x"], groups: [engineers]}}
connections:
  web-1: {{type: ssh, host: 127.0.0.1, user: deploy, credential: web-1, host_key: "{KEY}"}}
  db: {{type: postgres, host: 127.0.0.1, user: app, credential: db}}
recording: {{retention_days: 0}}
policies: [policies/a.yaml, policies/b.yaml]
"""
POLICY_A = """\
access:
  - {name: web, groups: [engineers], connections: [web-1], action: allow}
  - {name: db, groups: [dba], connections: [db], action: maybe}
"""
POLICY_B = """\
access:
  - {name: ops, groups: [engineers, "*"], connections: [web-1], action: approval, grant: soon}
commands:
  - {name: rm, argv: [[rm, "-rf"]], action: deny, colour: red}
"""


def write_tree(tmp_path: Path) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "a.yaml").write_text(POLICY_A)
    (tmp_path / "policies" / "b.yaml").write_text(POLICY_B)
    config = tmp_path / "gatehouse.yaml"
    config.write_text(CONFIG)
    return config


def test_every_error_in_config_and_policies_in_one_pass(tmp_path: Path) -> None:
    config = write_tree(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_all(config)
    a, b = tmp_path / "policies" / "a.yaml", tmp_path / "policies" / "b.yaml"
    assert [(e.file, e.line, e.key) for e in caught.value.all()] == [
        (str(config), 5, "users.bob.keys.0"),
        (str(config), 8, "connections.db.database"),
        (str(config), 9, "recording.retention_days"),
        (str(a), 3, "access.1.action"),
        (str(b), 2, "access.0.grant"),  # approvers default to the approvers role
        (str(b), 4, "commands.0.colour"),
    ]


def test_check_prints_every_error_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_tree(tmp_path)
    assert main(["check", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:5: users.bob.keys.0: not a valid public key" in err
    assert f"{config}:8: connections.db.database: is required" in err
    assert f"{config}:9: recording.retention_days: must be an integer" in err
    assert f"{tmp_path / 'policies' / 'a.yaml'}:3: access.1.action: must be one of" in err
    assert err.count("\n  ") == 6


def test_three_independent_errors_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "gatehouse.yaml"
    path.write_text("listen: nowhere\nstore: mongo\nusers:\n  'bad name': {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [(e.line, e.key) for e in caught.value.all()] == [
        (1, "listen"),
        (2, "store"),
        (4, "users.bad name"),
    ]


@pytest.mark.parametrize(
    "key",
    [
        "ssh-ed25519 AAAA-this-is-not!base64",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GK",
        "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ==",
        "ssh-rsa",
    ],
)
def test_malformed_user_key_is_refused_with_its_line(tmp_path: Path, key: str) -> None:
    path = tmp_path / "gatehouse.yaml"
    path.write_text(f'users:\n  alice:\n    keys:\n      - "{KEY}"\n      - "{key}"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert (caught.value.line, caught.value.key) == (5, "users.alice.keys.1")


def test_groups_no_user_holds_are_warned_about_with_their_line(tmp_path: Path) -> None:
    users = load_config(_write(tmp_path, f'users: {{a: {{keys: ["{KEY}"], groups: [ops]}}}}\n'))
    src = parse_yaml(
        "access:\n"
        "  - {name: x, groups: [ops, '*'], connections: [a], action: allow}\n"
        "  - name: y\n"
        "    groups: [ops, dba]\n"
        "    approvers: [leads]\n"
        "commands:\n"
        "  - {name: z, groups: [sec], match: x, action: deny}\n"
        "roles:\n"
        "  reviewers: [ops, leads]\n",
        "p.yaml",
    )
    warnings = unheld_groups(users.users, [src])
    assert [(w.line, w.key) for w in warnings] == [
        (4, "access.1.groups.1"),
        (5, "access.1.approvers.0"),
        (7, "commands.0.groups.0"),
        (9, "roles.reviewers.1"),
    ]
    assert "'dba'" in warnings[0].message


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gatehouse.yaml"
    path.write_text(text)
    return path


def test_check_warns_about_a_group_no_user_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.yaml").write_text(
        "access:\n  - {name: db, groups: [dba], connections: [x], action: allow}\n"
    )
    config = _write(
        tmp_path, f'users: {{a: {{keys: ["{KEY}"], groups: [ops]}}}}\npolicies: [p.yaml]\n'
    )
    assert main(["check", "-c", str(config)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {tmp_path / 'p.yaml'}:2: access.0.groups.0: no user is in group 'dba'" in err
