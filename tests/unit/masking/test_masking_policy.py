"""parse_masking_policy: defaults, selection, strategies, custom detectors and errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.common.errors import ConfigError
from broker.masking import BUILTIN_DETECTORS, MaskingEngine, parse_masking_policy

KEY = b"test-key-0123456789abcdef"


def _line_of(path: tuple[str | int, ...]) -> int:
    return 10 + len(path)


def _parse(section: Any) -> Any:
    return parse_masking_policy(section, file="policies/p.yaml", line_of=_line_of)


def _error(section: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        _parse(section)
    return info.value


def test_empty_section_enables_secrets_and_pii_not_network() -> None:
    policy = _parse({})
    cats = {d.category for d in policy.detectors}
    assert cats == {"secret", "pii"}
    assert "ipv4" not in policy.detector_names
    assert policy.default_strategy == "redact"
    assert policy.mode == "fail_closed"


def test_design_example_all_minus_ip() -> None:
    policy = _parse(
        {
            "detectors": {"enable": "all", "disable": ["ipv4", "ipv6"]},
            "columns": [{"match": "(?i)email|ssn|card", "strategy": "partial"}],
            "custom": [
                {"name": "internal-token", "regex": "tok_[A-Za-z0-9]{24}", "strategy": "redact"}
            ],
        }
    )
    names = policy.detector_names
    assert "mac_address" in names
    assert "ipv4" not in names
    assert "ipv6" not in names
    assert names[-1] == "internal-token"
    assert policy.columns[0].strategy == "partial"
    engine = MaskingEngine(policy, key=KEY)
    assert engine.mask_text("t tok_" + "a" * 24)[0] == "t [MASKED:internal-token]"


def test_enable_by_category_and_name() -> None:
    policy = _parse({"detectors": {"enable": ["network", "email"]}})
    assert set(policy.detector_names) == {"ipv4", "ipv6", "mac_address", "email"}


def test_strategies_and_default() -> None:
    policy = _parse({"strategies": {"email": "hash"}, "default_strategy": "partial"})
    assert policy.strategy_for("email") == "hash"
    assert policy.strategy_for("credit_card") == "partial"


def test_unsafe_mode_is_accepted_by_its_full_name() -> None:
    assert _parse({"mode": "unsafe_best_effort"}).mode == "unsafe_best_effort"


@pytest.mark.parametrize(
    ("section", "key", "fragment"),
    [
        ({"detectors": {"enable": ["nope"]}}, "masking.detectors.enable.0", "unknown detector"),
        ({"detectors": {"disable": ["credit-card"]}}, "masking.detectors.disable.0", "unknown"),
        ({"detectors": {"enable": "some"}}, "masking.detectors.enable", "list"),
        ({"detectors": {"enable": [3]}}, "masking.detectors.enable.0", "name"),
        ({"detectors": {"only": ["email"]}}, "masking.detectors.only", "unknown key"),
        ({"detectors": ["email"]}, "masking.detectors", "mapping"),
        ({"strategies": {"email": "shred"}}, "masking.strategies.email", "strategy"),
        ({"strategies": {"nope": "hash"}}, "masking.strategies.nope", "unknown detector"),
        ({"strategies": ["hash"]}, "masking.strategies", "strategies"),
        ({"default_strategy": "blank"}, "masking.default_strategy", "strategy"),
        ({"mode": "best_effort"}, "masking.mode", "mode"),
        ({"colour": "red"}, "masking.colour", "unknown key"),
        ({"columns": [{"match": "("}]}, "masking.columns.0.match", "invalid regex"),
        ({"columns": [{"match": "x", "strategy": "x"}]}, "masking.columns.0.strategy", "strategy"),
        ({"columns": [{"regex": "x"}]}, "masking.columns.0", "match"),
        ({"columns": [{"match": "x", "as": 1}]}, "masking.columns.0", "only"),
        ({"columns": "email"}, "masking.columns", "list"),
        ({"custom": [{"name": "t", "regex": "("}]}, "masking.custom.0.regex", "invalid regex"),
        ({"custom": [{"name": "t", "regex": "a*"}]}, "masking.custom.0.regex", "empty string"),
        ({"custom": [{"name": "t", "regex": ""}]}, "masking.custom.0.regex", "non-empty"),
        ({"custom": [{"name": "email", "regex": "x"}]}, "masking.custom.0.name", "taken"),
        ({"custom": [{"name": "pii", "regex": "x"}]}, "masking.custom.0.name", "taken"),
        ({"custom": [{"name": "Bad Name", "regex": "x"}]}, "masking.custom.0.name", "lower-case"),
        ({"custom": [{"name": "t", "regex": "x", "strategy": "z"}]}, "masking.custom.0.strategy", "strategy"),
        ({"custom": [{"name": "t", "regex": "x", "category": "z"}]}, "masking.custom.0.category", "category"),
        ({"custom": [{"name": "t", "regex": "x", "flags": "i"}]}, "masking.custom.0", "unknown key"),
        ({"custom": [{"name": "t", "regex": "x"}, {"name": "t", "regex": "y"}]}, "masking.custom.1.name", "duplicate"),
        ({"custom": ["tok_.*"]}, "masking.custom.0", "mapping"),
        ({"custom": {"name": "t"}}, "masking.custom", "list"),
    ],
)  # fmt: skip
def test_bad_input_raises_config_error_with_location(
    section: dict[str, Any], key: str, fragment: str
) -> None:
    err = _error(section)
    assert err.key == key
    assert fragment in err.message
    assert err.file == "policies/p.yaml"
    assert err.line == 10 + key.count(".")


def test_non_mapping_section_is_rejected() -> None:
    assert "mapping" in _error(["email"]).message


def test_line_lookup_failure_still_reports_key() -> None:
    def no_lines(path: tuple[str | int, ...]) -> int:
        raise KeyError(path)

    with pytest.raises(ConfigError) as info:
        parse_masking_policy({"mode": "x"}, file="f.yaml", line_of=no_lines)
    assert info.value.line == 0
    assert info.value.render() == "f.yaml: masking.mode: " + info.value.message


NAMES = [d.name for d in BUILTIN_DETECTORS] + ["secret", "pii", "network", "all"]


@given(
    enable=st.lists(st.sampled_from(NAMES), max_size=6),
    disable=st.lists(st.sampled_from(NAMES), max_size=6),
)
def test_enable_minus_disable_is_respected(enable: list[str], disable: list[str]) -> None:
    policy = _parse({"detectors": {"enable": enable, "disable": disable}})
    got = set(policy.detector_names)

    def expand(names: list[str]) -> set[str]:
        out: set[str] = set()
        for n in names:
            out |= {d.name for d in BUILTIN_DETECTORS if n in ("all", d.name, d.category)}
        return out

    assert got == expand(enable) - expand(disable)


@given(st.text(max_size=30))
def test_arbitrary_custom_regex_never_crashes_the_parser(pattern: str) -> None:
    outcome: str
    try:
        outcome = _parse({"custom": [{"name": "c", "regex": pattern}]}).detector_names[-1]
    except ConfigError as err:
        outcome = err.key
    assert outcome in ("c", "masking.custom.0.regex")
