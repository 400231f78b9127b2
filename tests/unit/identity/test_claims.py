"""Claim checks refuse tokens not for us, not from our IdP or not valid now; groups parse safely."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.identity.claims import check_claims, claimed_name, groups_from, map_groups
from broker.identity.errors import SignInError

ISS = "https://idp.example.test"
NOW = 1_800_000_000.0


def claims(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISS,
        "aud": "gatehouse",
        "sub": "u1",
        "exp": NOW + 300,
        "iat": NOW,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def check(c: dict[str, Any], **kw: Any) -> None:
    check_claims(c, issuer=ISS, audience="gatehouse", now=kw.pop("now", NOW), leeway=60, **kw)


def test_good_claims_pass() -> None:
    check(claims())
    check(claims(aud=["gatehouse"]))
    check(claims(aud=["gatehouse", "other"], azp="gatehouse"))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (claims(iss="https://evil.example.test"), "wrong_issuer"),
        (claims(iss=None), "wrong_issuer"),
        (claims(iss=ISS + "/"), "wrong_issuer"),
        (claims(aud="other"), "wrong_audience"),
        (claims(aud=None), "wrong_audience"),
        (claims(aud=["other"]), "wrong_audience"),
        (claims(aud=["gatehouse", "other"], azp="other"), "wrong_audience"),
        (claims(aud=["gatehouse", 7]), "wrong_audience"),
        (claims(exp=NOW - 61), "expired"),
        (claims(exp=None), "malformed_token"),
        (claims(exp="tomorrow"), "malformed_token"),
        (claims(exp=True), "malformed_token"),
        (claims(iat=NOW + 61), "not_yet_valid"),
        (claims(nbf=NOW + 3600), "not_yet_valid"),
        (claims(sub=None), "malformed_token"),
        (claims(sub=""), "malformed_token"),
        (claims(sub=42), "malformed_token"),
        (claims(sub="x" * 256), "malformed_token"),
    ],
)
def test_bad_claims_are_refused(bad: dict[str, Any], reason: str) -> None:
    with pytest.raises(SignInError) as caught:
        check(bad)
    assert caught.value.reason == reason
    assert "\n" not in str(caught.value)


def test_clock_skew_within_leeway_is_tolerated_beyond_it_refused() -> None:
    check(claims(exp=NOW - 59))
    check(claims(iat=NOW + 59))
    with pytest.raises(SignInError, match="clocks disagree"):
        check(claims(iat=NOW + 120))


def test_nonce_must_match_when_one_was_sent() -> None:
    check(claims(nonce="n1"), nonce="n1")
    with pytest.raises(SignInError) as caught:
        check(claims(nonce="n2"), nonce="n1")
    assert caught.value.reason == "bad_nonce"
    with pytest.raises(SignInError):
        check(claims(), nonce="n1")


@given(
    st.dictionaries(
        st.text(max_size=8),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=5), inner, max_size=4)
            ),
            max_leaves=10,
        ),
    )
)
def test_hostile_claims_raise_only_sign_in_errors(hostile: dict[str, Any]) -> None:
    with contextlib.suppress(SignInError):
        check(hostile)


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.text(),
        st.lists(
            st.one_of(st.text(max_size=200), st.integers(), st.none(), st.lists(st.text())),
            max_size=400,
        ),
        st.dictionaries(st.text(), st.text()),
    )
)
def test_groups_are_plain_names_or_nothing(value: object) -> None:
    groups = groups_from({"groups": value}, "groups")
    assert len(groups) <= 256
    assert len(set(groups)) == len(groups)
    for group in groups:
        assert isinstance(group, str)
        assert 0 < len(group) <= 128
        assert group.isprintable()
        assert " " not in group
        assert "[" not in group


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["engineers", "ops"], ("engineers", "ops")),
        ("engineers", ("engineers",)),
        (["a", "a", "b"], ("a", "b")),
        (["ok", "bad name", "[red]x", "", 7, None, "x\n"], ("ok",)),
        ({"engineers": True}, ()),
        (None, ()),
    ],
)
def test_groups_from_claim_shapes(value: object, expected: tuple[str, ...]) -> None:
    assert groups_from({"groups": value}, "groups") == expected


def test_group_map_maps_only_listed_groups_and_passes_through_without_a_map() -> None:
    mapping = {"idp-eng": ("engineers",), "idp-sec": ("auditors", "reviewers")}
    assert map_groups(("idp-eng", "idp-sec", "idp-other"), mapping) == (
        "engineers",
        "auditors",
        "reviewers",
    )
    assert map_groups(("idp-other",), mapping) == ()
    assert map_groups(("engineers",), {}) == ("engineers",)


def test_claimed_name_takes_only_plain_names() -> None:
    assert claimed_name({"preferred_username": "alice"}, "preferred_username") == "alice"
    assert claimed_name({"preferred_username": "alice smith"}, "preferred_username") == ""
    assert claimed_name({"preferred_username": ["alice"]}, "preferred_username") == ""
    assert claimed_name({}, "preferred_username") == ""
