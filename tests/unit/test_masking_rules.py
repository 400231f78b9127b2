"""Masking rules per connection and group: resolution, fail-closed overrides, validation errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.common.errors import ConfigError
from broker.common.yamlsrc import parse_yaml
from broker.masking import BUILTIN_DETECTORS, MaskingPolicy
from broker.masking.filter import MaskingEngines, load_engines, load_masking_policy
from broker.masking.rules import MaskingRules, load_masking_rules, parse_masking_rules
from broker.policy.loader import PolicySet, load_policies, parse_policy

KEY = b"test-key-0123456789abcdef"
CARD = "4111 1111 1111 1111"
EMAIL = "jane.doe@example.com"
IP = "10.1.2.3"

POLICY = """\
masking:
  detectors: {enable: all, disable: [ipv4, ipv6]}
  strategies: {email: partial}
  custom: [{name: internal-token, regex: "tok_[A-Za-z0-9]{24}", strategy: redact}]
  overrides:
    - name: prod-dba
      connections: ["prod-*"]
      groups: [dba, oncall]
      detectors: {disable: [email]}
      strategies: {credit_card: partial}
    - {connections: ["lab-*", shell], detectors: {enable: [ipv4]}}
    - {groups: [auditors], default_strategy: hash}
    - {connections: ["web-*"], groups: ["*"], strategies: {email: redact}}
"""


def _policies(text: str, file: str = "policies/p.yaml") -> PolicySet:
    return parse_policy(parse_yaml(text, file))


def _rules(text: str = POLICY) -> MaskingRules:
    return load_masking_rules(_policies(text))


def _line_of(path: tuple[str | int, ...]) -> int:
    return 1


# -- resolution -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("connection", "groups", "scope"),
    [
        ("prod-db", ["dba"], "prod-dba"),
        ("prod-db", ["engineers", "oncall"], "prod-dba"),
        ("prod-db", ["engineers"], "default"),  # connection matches, group does not
        ("staging-db", ["dba"], "default"),  # group matches, connection does not
        ("Prod-db", ["dba"], "default"),  # globs are case-sensitive, like access rules
        ("lab-7", [], "overrides[1]"),
        ("shell", ["dba"], "overrides[1]"),
        ("prod-db", ["auditors", "dba"], "prod-dba"),  # first match wins
        ("web-1", ["auditors"], "overrides[2]"),
        ("db-1", [], "default"),
        ("web-1", ["anyone"], "overrides[3]"),  # groups: ["*"] is everyone
    ],
)
def test_first_matching_override_decides(connection: str, groups: list[str], scope: str) -> None:
    assert _rules().scope(connection, groups) == scope


def test_override_changes_only_what_it_names() -> None:
    rules = _rules()
    base = rules.base
    prod = rules.resolve("prod-db", ["dba"])
    assert set(base.detector_names) - set(prod.detector_names) == {"email"}
    assert prod.strategy_for("credit_card") == "partial"
    assert prod.strategy_for("internal-token") == "redact"
    assert prod.mode == base.mode
    lab = rules.resolve("lab-1", [])
    assert set(lab.detector_names) - set(base.detector_names) == {"ipv4"}
    assert lab.strategy_for("email") == "partial"  # inherited from the base
    assert lab.detector_names.index("ipv4") < lab.detector_names.index("internal-token")
    audit = rules.resolve("web-1", ["auditors"])
    assert audit.detector_names == base.detector_names
    assert audit.default_strategy == "hash"
    assert audit.strategy_for("email") == "partial"


def test_no_overrides_resolves_to_the_base_everywhere() -> None:
    rules = _rules("masking:\n  detectors: {disable: [email]}\n")
    assert rules.overrides == ()
    assert rules.resolve("anything", ["dba"]) is rules.base
    assert load_masking_rules(PolicySet()).base == MaskingPolicy()


def test_two_connections_mask_differently() -> None:
    engines = MaskingEngines(_rules(), key=KEY)
    text = f"card {CARD} mail {EMAIL} ip {IP}"
    prod_scope, prod = engines.for_session("prod-db", ["dba"])
    lab_scope, lab = engines.for_session("lab-1", ["dba"])
    assert (prod_scope, lab_scope) == ("prod-dba", "overrides[1]")
    prod_out, _ = prod.mask_text(text)
    lab_out, _ = lab.mask_text(text)
    assert EMAIL in prod_out
    assert CARD not in prod_out
    assert "1111" in prod_out  # partial
    assert IP in prod_out
    for value in (EMAIL, IP, CARD):
        assert value not in lab_out


def test_engines_are_built_once_per_resolved_policy() -> None:
    engines = MaskingEngines(_rules(), key=KEY)
    first = engines.for_session("prod-a", ["dba"])[1]
    assert engines.for_session("prod-b", ["oncall"])[1] is first
    assert engines.for_session("web-1", [])[1] is engines.for_session("web-2", ["x"])[1]
    assert engines.for_session("web-1", [])[1] is not first


def test_context_free_messages_use_every_detector_any_policy_enables() -> None:
    engines = MaskingEngines(_rules(), key=KEY)
    masked, _ = engines.strictest.mask_text(f"could not reach {IP}: {EMAIL}")
    assert IP not in masked
    assert EMAIL not in masked


def test_load_engines_reads_the_key_and_check_sees_overrides(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY)
    key = tmp_path / "masking.key"
    key.write_bytes(KEY)
    policies = load_policies([policy])
    engines = load_engines(policies, key)
    assert engines.for_session("lab-1", [])[0] == "overrides[1]"
    assert load_masking_policy(policies) == engines.rules.base
    policy.write_text(POLICY.replace("enable: [ipv4]", "enable: [ipv9]"))
    with pytest.raises(ConfigError) as info:
        load_masking_policy(load_policies([policy]))
    assert str(info.value).endswith(
        "masking.overrides.1.detectors.enable.0: " + "unknown detector or category 'ipv9'"
    )


# -- an override cannot weaken masking silently ------------------------------------------------

NAMES = [d.name for d in BUILTIN_DETECTORS] + ["internal-token"]
CATEGORY_OF = {d.name: d.category for d in BUILTIN_DETECTORS} | {"internal-token": "secret"}
NAME_OR_CATEGORY = st.sampled_from([*NAMES, "secret", "pii", "network"])


def _expand(names: list[str]) -> set[str]:
    return {n for n in NAMES if n in names or CATEGORY_OF[n] in names}


@settings(max_examples=150, deadline=None)
@given(
    base_disable=st.lists(NAME_OR_CATEGORY, max_size=6),
    enable=st.lists(NAME_OR_CATEGORY, max_size=6),
    disable=st.lists(NAME_OR_CATEGORY, max_size=6),
    strategies=st.dictionaries(
        st.sampled_from(NAMES), st.sampled_from(["redact", "partial", "hash"]), max_size=4
    ),
)
def test_an_override_disables_only_what_it_names(
    base_disable: list[str], enable: list[str], disable: list[str], strategies: dict[str, str]
) -> None:
    override: dict[str, Any] = {
        "connections": ["prod-*"],
        "detectors": {"enable": enable, "disable": disable},
        "strategies": strategies,
    }
    section = {
        "detectors": {"enable": "all", "disable": base_disable},
        "strategies": {"email": "hash"},
        "custom": [{"name": "internal-token", "regex": "tok_[A-Za-z0-9]{24}"}],
        "overrides": [override],
    }
    base_on = set(NAMES) - _expand(base_disable)
    expected = (base_on | _expand(enable)) - _expand(disable)
    if not expected:
        with pytest.raises(ConfigError, match="leaves no detector on"):
            parse_masking_rules(section, file="p.yaml", line_of=_line_of)
        return
    rules = parse_masking_rules(section, file="p.yaml", line_of=_line_of)
    assert set(rules.base.detector_names) == base_on
    resolved = rules.resolve("prod-1", ["anyone"])
    assert set(resolved.detector_names) == expected
    for name in base_on - _expand(disable):  # every base detector it does not name stays on …
        assert name in resolved.detector_names
        if name not in strategies:  # … with the base's strategy
            assert resolved.strategy_for(name) == rules.base.strategy_for(name)
    assert resolved.mode == "fail_closed"
    assert rules.resolve("web-1", ["anyone"]) is rules.base  # out of scope: the base


# -- validation: file:line: key: message -------------------------------------------------------

HEAD = "masking:\n  detectors: {enable: all}\n  overrides:\n"


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        (
            "masking:\n  detectors: {}\n  overrides: {prod: 1}\n",
            "3: masking.overrides",
            "overrides must be a list",
        ),
        (HEAD + "    - 3\n", "4: masking.overrides.0", "an override is a mapping"),
        (
            HEAD + "    - connections: [a]\n      detector: {}\n",
            "5: masking.overrides.0.detector",
            "unknown key 'detector'",
        ),
        (
            HEAD + "    - connections: [a]\n      mode: unsafe_best_effort\n",
            "5: masking.overrides.0.mode",
            "the failure mode is set once",
        ),
        (
            HEAD + "    - detectors: {disable: [email]}\n",
            "4: masking.overrides.0",
            "needs connections or groups",
        ),
        (
            HEAD + "    - connections: [a]\n      detectors:\n        disable: [email, emial]\n",
            "6: masking.overrides.0.detectors.disable.1",
            "unknown detector or category 'emial'",
        ),
        (
            HEAD + "    - connections: [a]\n      detectors: {disable: [all]}\n",
            "5: masking.overrides.0.detectors.disable",
            "cannot disable every detector",
        ),
        (
            HEAD + "    - connections: [a]\n      detectors: {disable: all}\n",
            "5: masking.overrides.0.detectors.disable",
            "cannot disable every detector",
        ),
        (
            HEAD + "    - connections: [a]\n      detectors: {disable: [secret, pii, network]}\n",
            "5: masking.overrides.0.detectors",
            "leaves no detector on",
        ),
        (
            HEAD + "    - connections: [a]\n      detectors: {only: [email]}\n",
            "5: masking.overrides.0.detectors.only",
            "unknown key 'only'",
        ),
        (
            HEAD + "    - connections: [a]\n      strategies:\n        email: blur\n",
            "6: masking.overrides.0.strategies.email",
            "strategy must be one of redact, partial, hash",
        ),
        (
            HEAD + "    - connections: [a]\n      strategies: {nope: hash}\n",
            "5: masking.overrides.0.strategies.nope",
            "unknown detector 'nope'",
        ),
        (
            HEAD + "    - connections: [a]\n      default_strategy: none\n",
            "5: masking.overrides.0.default_strategy",
            "strategy must be one of",
        ),
        (
            HEAD + "    - groups:\n        - dba\n        - unmasked\n",
            "6: masking.overrides.0.groups.1",
            "members of 'unmasked' are not masked",
        ),
        (
            HEAD + "    - {connections: [a], name: x}\n    - {connections: [b], name: x}\n",
            "5: masking.overrides.1.name",
            "duplicate override name 'x'",
        ),
        (
            HEAD + '    - connections: "prod-*"\n',
            "4: masking.overrides.0.connections",
            "must be a list of connection globs",
        ),
        (
            HEAD + "    - connections: [a, 7]\n",
            "4: masking.overrides.0.connections.1",
            "must be a non-empty string",
        ),
        (
            HEAD + "    - {connections: [a], name: default}\n",
            "4: masking.overrides.0",
            "name must be a non-empty string other than 'default'",
        ),
        (
            "masking:\n  detectors:\n    enable: [nope]\n  overrides: []\n",
            "3: masking.detectors.enable.0",
            "unknown detector or category 'nope'",
        ),
    ],
)
def test_errors_name_file_line_and_key(body: str, where: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _rules(body)
    rendered = str(info.value)
    assert rendered.startswith(f"policies/p.yaml:{where}: "), rendered
    assert message in rendered


def test_a_second_masking_section_is_an_error_naming_its_file() -> None:
    first = _policies("masking: {}\n", "policies/a.yaml")
    second = _policies("access: []\nmasking:\n  overrides: []\n", "policies/b.yaml")
    both = PolicySet(masking=first.masking + second.masking)
    with pytest.raises(ConfigError) as info:
        load_masking_rules(both)
    assert str(info.value).startswith("policies/b.yaml:2: masking: only one policy file")


def test_an_override_can_enable_a_custom_detector_the_base_disables() -> None:
    text = (
        "masking:\n"
        "  detectors: {disable: [internal-token]}\n"
        '  custom: [{name: internal-token, regex: "tok_[A-Za-z0-9]{24}"}]\n'
        "  overrides: [{connections: [prod-*], detectors: {enable: [internal-token]}}]\n"
    )
    rules = _rules(text)
    assert "internal-token" not in rules.base.detector_names
    assert rules.resolve("prod-1", []).detector_names[-1] == "internal-token"
