"""The fake PII is well formed: Luhn-valid cards, valid IBANs, issuable SSNs."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.harness.pii import (
    fake_customers,
    fake_orders,
    german_iban,
    iban_valid,
    luhn_check_digit,
    luhn_valid,
    shop_schema_sql,
)


@pytest.mark.parametrize("number", ["4111111111111111", "5500005555555559", "378282246310005"])
def test_known_good_cards_pass_luhn(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111112",
        "5500005555555550",
        "378282246310006",
        "4111-1111-1111-1111",
        "",
        "7",
        "x1",
    ],
)
def test_bad_cards_fail_luhn(number: str) -> None:
    assert not luhn_valid(number)


@pytest.mark.parametrize("iban", ["DE89370400440532013000", "GB82WEST12345698765432"])
def test_known_good_ibans_pass(iban: str) -> None:
    assert iban_valid(iban)


@pytest.mark.parametrize(
    "iban",
    [
        "DE89370400440532013001",
        "DE98370400440532013000",
        "GB82WEST12345698765433",
        "DE89 3704 0044 0532 0130 00",
        "89DE370400440532013000",
        "DE8937",
        "",
    ],
)
def test_bad_ibans_fail(iban: str) -> None:
    assert not iban_valid(iban)


@given(st.text(alphabet="0123456789", min_size=1, max_size=30))
def test_check_digit_completes_any_payload(payload: str) -> None:
    assert luhn_valid(payload + luhn_check_digit(payload))


@given(
    st.text(alphabet="0123456789", min_size=12, max_size=18),
    st.data(),
)
def test_luhn_catches_every_single_digit_error(payload: str, data: st.DataObject) -> None:
    number = payload + luhn_check_digit(payload)
    index = data.draw(st.integers(0, len(number) - 1))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != number[index]]))
    assert not luhn_valid(number[:index] + digit + number[index + 1 :])


@given(st.from_regex(r"\d{8}", fullmatch=True), st.from_regex(r"\d{10}", fullmatch=True))
def test_german_ibans_are_valid(bank: str, account: str) -> None:
    iban = german_iban(bank, account)
    assert len(iban) == 22
    assert iban_valid(iban)


def test_customers_are_deterministic_distinct_and_valid() -> None:
    customers = fake_customers(40)
    assert customers == fake_customers(40)
    assert customers != fake_customers(40, seed=8)
    assert len({c.email for c in customers}) == 40
    for c in customers:
        assert luhn_valid(c.card_number), c
        assert iban_valid(c.iban), c
        assert re.fullmatch(r"(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4}", c.ssn), c
        assert re.fullmatch(r"\+1\d{10}", c.phone), c


def test_orders_repeat_customer_pii_in_notes() -> None:
    customers = fake_customers(3)
    orders = fake_orders(customers, per_customer=2)
    assert [o.id for o in orders] == [1, 2, 3, 4, 5, 6]
    assert all(customers[o.customer_id - 1].card_number in o.note for o in orders)


def test_schema_sql_quotes_values() -> None:
    sql = shop_schema_sql(fake_customers(2), ())
    assert sql.count("INSERT INTO customers") == 2
    assert "CREATE TABLE orders" in sql
