"""The RFC 8628 polling rules: interval, slow_down, expired_token, access_denied, hostile answers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.identity.device import DevicePoll, Tokens, Wait, parse_device_authorization
from broker.identity.errors import SignInError

ANSWER: dict[str, Any] = {
    "device_code": "dc",
    "user_code": "BCDF-GHJK",
    "verification_uri": "https://idp.example.test/device",
    "verification_uri_complete": "https://idp.example.test/device?user_code=BCDF-GHJK",
    "expires_in": 600,
}


def test_interval_defaults_to_five_seconds_and_follows_the_idp() -> None:
    assert parse_device_authorization(ANSWER, 0).interval == 5
    assert parse_device_authorization({**ANSWER, "interval": 2}, 0).interval == 2
    assert parse_device_authorization({**ANSWER, "interval": 10_000}, 0).interval == 60
    assert parse_device_authorization({**ANSWER, "interval": "1"}, 0).interval == 5


def test_complete_uri_from_another_site_is_not_shown() -> None:
    grant = parse_device_authorization(
        {**ANSWER, "verification_uri_complete": "https://evil.example/x"}, 0
    )
    assert grant.verification_uri_complete == ANSWER["verification_uri"]


@pytest.mark.parametrize(
    "broken",
    [
        {k: v for k, v in ANSWER.items() if k != "device_code"},
        {**ANSWER, "user_code": "A\x1b[2J"},
        {**ANSWER, "verification_uri": "javascript:alert(1)"},
        {**ANSWER, "verification_uri": "file:///etc/passwd"},
        {**ANSWER, "expires_in": 0},
        {**ANSWER, "expires_in": "600"},
        [],
        None,
    ],
)
def test_malformed_device_answers_are_refused(broken: object) -> None:
    with pytest.raises(SignInError):
        parse_device_authorization(broken, 0)


def test_pending_waits_the_interval_slow_down_adds_five() -> None:
    poll = DevicePoll(parse_device_authorization(ANSWER, 0))
    assert poll.first(0) == Wait(5)
    assert poll.answer(400, {"error": "authorization_pending"}, 5) == Wait(5)
    assert poll.answer(400, {"error": "slow_down"}, 10) == Wait(10)
    assert poll.answer(400, {"error": "slow_down"}, 20) == Wait(15)
    assert poll.answer(400, {"error": "authorization_pending"}, 35) == Wait(15)
    assert isinstance(poll.answer(200, {"id_token": "x"}, 50), Tokens)


@pytest.mark.parametrize(
    ("error", "reason", "words"),
    [
        ("access_denied", "access_denied", "denied"),
        ("expired_token", "expired_token", "expired"),
        ("invalid_grant", "invalid_grant", "refused"),
        ("<script>", "idp_error", "refused"),
    ],
)
def test_final_errors(error: str, reason: str, words: str) -> None:
    poll = DevicePoll(parse_device_authorization(ANSWER, 0))
    with pytest.raises(SignInError, match=words) as caught:
        poll.answer(400, {"error": error}, 1)
    assert caught.value.reason == reason


def test_polling_stops_at_the_codes_expiry() -> None:
    poll = DevicePoll(parse_device_authorization({**ANSWER, "expires_in": 12}, 0))
    assert poll.answer(400, {"error": "authorization_pending"}, 5) == Wait(5)
    with pytest.raises(SignInError) as caught:
        poll.answer(400, {"error": "authorization_pending"}, 10)
    assert caught.value.reason == "expired_token"


def test_a_success_without_an_id_token_is_not_success() -> None:
    poll = DevicePoll(parse_device_authorization(ANSWER, 0))
    with pytest.raises(SignInError):
        poll.answer(200, {"access_token": "x"}, 1)


@given(
    st.integers(0, 599),
    st.one_of(
        st.none(),
        st.integers(),
        st.text(),
        st.dictionaries(
            st.text(max_size=10), st.one_of(st.text(max_size=10), st.integers(), st.none())
        ),
    ),
)
def test_hostile_token_answers_raise_or_wait_bounded(status: int, body: object) -> None:
    poll = DevicePoll(parse_device_authorization(ANSWER, 0))
    try:
        step = poll.answer(status, body, 1)
    except SignInError:
        return
    assert isinstance(step, Wait | Tokens)
    if isinstance(step, Wait):
        assert 0 < step.seconds <= 60
