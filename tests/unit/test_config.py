"""Config loading: valid files load; every error names file:line, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.common.errors import ConfigError
from broker.common.yamlsrc import parse_yaml
from broker.config.model import load_config

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b"

GOOD = f"""\
listen: 127.0.0.1:2222
state_dir: ./state
users:
  alice: {{keys: ["{KEY}"], groups: [engineers]}}
connections:
  web-1: {{type: ssh, host: 127.0.0.1, port: 2201, user: deploy, credential: web-1,
          host_key: "{KEY}"}}
  shop-db: {{type: postgres, host: 127.0.0.1, database: shop, user: app, credential: shop-db}}
  shell: {{type: local, command: [bash, -l], run_as: gh-tools, accepts: shell}}
policies: [policies/default.yaml]
store: sqlite
recording: {{retention_days: 30, strict: true}}
audit: {{strict: true, sinks: [{{syslog: "tcp://127.0.0.1:5514"}}, {{file: ./copy.jsonl}}]}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gatehouse.yaml"
    path.write_text(text)
    return path


def test_good_config_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.listen_host == "127.0.0.1"
    assert config.listen_port == 2222
    assert config.state_dir == (tmp_path / "state").resolve()
    assert config.users["alice"].groups == ("engineers",)
    assert config.connections["web-1"].port == 2201
    assert config.connections["shop-db"].port == 5432
    assert config.connections["shell"].command == ("bash", "-l")
    assert config.policy_files == ((tmp_path / "policies/default.yaml").resolve(),)
    assert config.audit.sinks[1]["file"] == str((tmp_path / "copy.jsonl").resolve())
    assert config.recording.retention_days == 30


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "message"),
    [
        ("listen: 127.0.0.1:2222", "listen: nowhere", 1, "listen", "HOST:PORT"),
        ("listen: 127.0.0.1:2222", "listen: 127.0.0.1:99999", 1, "listen", "HOST:PORT"),
        ("store: sqlite", "store: mongo", 11, "store", "sqlite"),
        ("store: sqlite", "stor: sqlite", 11, "stor", "unknown key"),
        ("type: ssh,", "type: telnet,", 6, "connections.web-1.type", "unknown type"),
        ("port: 2201", "port: 0", 6, "connections.web-1.port", "integer from 1"),
        ("port: 2201", "port: x", 6, "connections.web-1.port", "integer"),
        ("credential: web-1,\n", "\n", 6, "connections.web-1.credential", "required"),
        (f'host_key: "{KEY}"', 'host_key: "nope"', 7, "connections.web-1.host_key", "public key"),
        ("command: [bash, -l]", "command: []", 9, "connections.shell.command", "required"),
        ('keys: ["ssh-ed25519', 'keys: ["rsa-bogus', 4, "users.alice.keys.0", "public key"),
        ("groups: [engineers]", "groups: engineers", 4, "users.alice.groups", "list"),
        ("retention_days: 30", "retention_days: -1", 12, "recording.retention_days", "integer"),
        ("strict: true, sinks", "strict: yes please, sinks", 13, "audit.strict", "true or false"),
        (
            'syslog: "tcp://127.0.0.1:5514"',
            'syslog: "http://x"',
            13,
            "audit.sinks.0.syslog",
            "tcp://",
        ),
        ("policies: [policies/default.yaml]", "policies: policies", 10, "policies", "list"),
        ("alice: {", "al ice: {", 4, "users.al ice", "letters"),
    ],
)
def test_errors_name_file_line_and_key(
    tmp_path: Path, old: str, new: str, line: int, key: str, message: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.file == str(path)
    assert err.line == line, err.render()
    assert err.key == key, err.render()
    assert message in err.message
    assert err.render().startswith(f"{path}:{line}: {key}: ")


def test_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "listen: 127.0.0.1:2222\nusers: {alice: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line >= 2
    assert "invalid YAML" in info.value.message


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n")
    with pytest.raises(ConfigError, match="duplicate key") as info:
        load_config(path)
    assert info.value.line == 2


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    try:
        parse_yaml(text, "fuzz.yaml")
    except ConfigError as exc:
        error: ConfigError | None = exc
    else:
        error = None
    assert error is None or error.file == "fuzz.yaml"


def test_approvals_expire_after_defaults_to_a_day_and_takes_a_duration(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, GOOD)).approvals_expire_after == 24 * 3600
    config = load_config(write(tmp_path, GOOD + "approvals: {expire_after: 15m}\n"))
    assert config.approvals_expire_after == 900


@pytest.mark.parametrize(
    ("value", "message"),
    [("soon", "must be a duration"), ("0", "from 1s to 720h"), ("800h", "from 1s to 720h")],
)
def test_approvals_expire_after_errors_name_the_key(
    tmp_path: Path, value: str, message: str
) -> None:
    path = write(tmp_path, GOOD + f"approvals:\n  expire_after: {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.render().startswith(f"{path}:15: approvals.expire_after: ")
    assert message in info.value.message
