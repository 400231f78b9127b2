"""Role groups named in policy: parsing, validation errors (file:line: key) and defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.common.errors import ConfigError
from broker.masking.rules import load_masking_rules
from broker.policy.loader import load_policies
from broker.policy.roles import Roles

ROLES = """\
access:
  - {name: a, groups: [engineers], connections: ["web-*"], action: allow}
roles:
  reviewers: [sec-review, leads]
  auditors: [compliance]
  unmasked: []
"""


def _load(tmp_path: Path, *texts: str) -> list[Path]:
    paths = []
    for i, text in enumerate(texts):
        path = tmp_path / f"p{i}.yaml"
        path.write_text(text)
        paths.append(path)
    return paths


def test_roles_default_to_todays_group_names(tmp_path: Path) -> None:
    policies = load_policies(_load(tmp_path, ROLES.split("roles:")[0]))
    assert policies.roles == Roles(
        reviewers=("reviewers",),
        auditors=("auditors",),
        approvers=("approvers",),
        unmasked=("unmasked",),
    )
    assert policies.roles_source is None


def test_named_roles_replace_defaults_and_unnamed_keep_them(tmp_path: Path) -> None:
    policies = load_policies(_load(tmp_path, ROLES))
    roles = policies.roles
    assert roles.reviewers == ("sec-review", "leads")
    assert roles.auditors == ("compliance",)
    assert roles.approvers == ("approvers",)  # not named: today's name
    assert roles.unmasked == ()  # nobody may bypass masking
    assert roles.holds("reviewers", ["engineers", "leads"])
    assert not roles.holds("reviewers", ["reviewers"])  # the old name no longer counts
    assert not roles.holds("unmasked", ["unmasked"])
    assert roles.granting("reviewers", ["leads", "sec-review"]) == "sec-review"
    assert roles.describe().splitlines() == [
        "reviewers: sec-review, leads",
        "auditors: compliance",
        "approvers: approvers",
        "unmasked: (nobody)",
    ]


def test_roles_may_sit_in_any_one_policy_file(tmp_path: Path) -> None:
    other = "commands:\n  - {name: c, match: x, action: deny}\n"
    policies = load_policies(_load(tmp_path, other, ROLES))
    assert policies.roles.reviewers == ("sec-review", "leads")
    assert policies.roles_source is not None
    assert policies.roles_source.file == str(tmp_path / "p1.yaml")


def test_a_second_file_naming_roles_is_refused(tmp_path: Path) -> None:
    second = "roles:\n  auditors: [other]\n"
    paths = _load(tmp_path, ROLES, second)
    with pytest.raises(ConfigError) as info:
        load_policies(paths)
    assert (info.value.file, info.value.line, info.value.key) == (str(paths[1]), 1, "roles")
    assert "only one policy file" in info.value.message


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "message"),
    [
        ("  auditors:", "  auditor:", 5, "roles.auditor", "unknown role"),
        ("[compliance]", "compliance", 5, "roles.auditors", "must be a list of group names"),
        ("[compliance]", "{a: b}", 5, "roles.auditors", "must be a list of group names"),
        ("[sec-review, leads]", "[sec-review, 7]", 4, "roles.reviewers.1", "non-empty string"),
        ("[sec-review, leads]", "[sec-review, '']", 4, "roles.reviewers.1", "non-empty string"),
        ("[sec-review, leads]", "[sec-review, [x]]", 4, "roles.reviewers.1", "non-empty string"),
        ("[sec-review, leads]", "['*']", 4, "roles.reviewers.0", "'*' (everyone)"),
        ("[sec-review, leads]", '["a\\e[31m"]', 4, "roles.reviewers.0", "control characters"),
        ("[sec-review, leads]", "[leads, leads]", 4, "roles.reviewers", "twice"),
        ("  unmasked: []", "  unmasked: null", 6, "roles.unmasked", "got NoneType"),
    ],
)
def test_role_errors_name_file_line_and_key(
    tmp_path: Path, old: str, new: str, line: int, key: str, message: str
) -> None:
    assert old in ROLES
    (path,) = _load(tmp_path, ROLES.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_policies([path])
    assert (info.value.file, info.value.line, info.value.key) == (str(path), line, key)
    assert message in info.value.message
    assert str(info.value).startswith(f"{path}:{line}: {key}: ")


@pytest.mark.parametrize("section", ["roles: [reviewers]\n", "roles: null\n", "roles: x\n"])
def test_roles_must_be_a_mapping(tmp_path: Path, section: str) -> None:
    (path,) = _load(tmp_path, section)
    with pytest.raises(ConfigError) as info:
        load_policies([path])
    assert (info.value.line, info.value.key) == (1, "roles")
    assert "mapping of role" in info.value.message


def test_masking_override_may_not_name_a_renamed_unmasked_group(tmp_path: Path) -> None:
    text = (
        "roles:\n  unmasked: [break-glass]\n"
        "masking:\n  detectors: {enable: all}\n"
        "  overrides:\n    - {groups: [dba, break-glass], detectors: {disable: [email]}}\n"
    )
    (path,) = _load(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_masking_rules(load_policies([path]))
    assert info.value.key == "masking.overrides.0.groups.1"
    assert "'break-glass' are not masked" in info.value.message
    # The old default name is an ordinary group once the role is renamed.
    (path,) = _load(tmp_path, text.replace("dba, break-glass", "dba, unmasked"))
    rules = load_masking_rules(load_policies([path]))
    assert rules.select("db", ["unmasked"]) is not None
