"""Deterministic fake personal data (valid Luhn cards, valid IBANs, SSNs) for test databases."""

from __future__ import annotations

import random
from dataclasses import dataclass

FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson")
ITEMS = ("keyboard", "monitor", "cable", "laptop stand", "headset", "webcam", "dock")
CARD_PREFIXES = (("4", 16), ("51", 16), ("55", 16), ("34", 15), ("37", 15))


@dataclass(frozen=True)
class Customer:
    """One row of the ``customers`` table."""

    id: int
    """Primary key, from 1."""
    name: str
    """Full name."""
    email: str
    """Email address (domain ``example.com``)."""
    ssn: str
    """US social security number, ``AAA-GG-SSSS``, in the issuable ranges."""
    card_number: str
    """Payment card number, digits only, passing the Luhn check."""
    iban: str
    """German IBAN (22 characters, no spaces) with valid check digits."""
    phone: str
    """Phone number in E.164 form."""


@dataclass(frozen=True)
class Order:
    """One row of the ``orders`` table."""

    id: int
    """Primary key, from 1."""
    customer_id: int
    """The ordering customer."""
    item: str
    """What was bought."""
    amount_cents: int
    """Price in cents."""
    note: str
    """Free text that repeats the customer's email and card (as real notes do)."""


def luhn_check_digit(payload: str) -> str:
    """Return the Luhn check digit that completes the digit string ``payload``."""
    total = 0
    for index, char in enumerate(reversed(payload)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    """Return whether a digit string passes the Luhn check (non-digits make it invalid)."""
    if len(number) < 2 or not number.isdigit():
        return False
    return luhn_check_digit(number[:-1]) == number[-1]


def iban_valid(iban: str) -> bool:
    """Return whether ``iban`` (no spaces) is well formed with valid ISO 7064 check digits."""
    if len(iban) < 15 or not iban[:2].isalpha() or not iban[2:4].isdigit() or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(char, 36)) for char in rearranged.upper())
    return int(digits) % 97 == 1


def german_iban(bank_code: str, account: str) -> str:
    """Return the German IBAN for an 8-digit bank code and a 10-digit account number."""
    bban = bank_code + account
    numeric = "".join(str(int(char, 36)) for char in bban + "DE00")
    return f"DE{98 - int(numeric) % 97:02d}{bban}"


def fake_customers(count: int = 25, seed: int = 7) -> tuple[Customer, ...]:
    """Return ``count`` deterministic customers with distinct, valid-looking PII.

    Args:
        count: How many customers.
        seed: Random seed; the same seed gives the same rows.

    Returns:
        The customers, ids 1..count.
    """
    rng = random.Random(seed)
    customers: list[Customer] = []
    for number in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        prefix, length = CARD_PREFIXES[number % len(CARD_PREFIXES)]
        body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
        area = rng.choice([a for a in range(1, 900) if a != 666])
        customers.append(
            Customer(
                id=number,
                name=f"{first} {last}",
                email=f"{first.lower()}.{last.lower()}{number}@example.com",
                ssn=f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}",
                card_number=body + luhn_check_digit(body),
                iban=german_iban(f"{rng.randrange(10**8):08d}", f"{rng.randrange(10**10):010d}"),
                phone=f"+1415{rng.randrange(10**7):07d}",
            )
        )
    return tuple(customers)


def fake_orders(
    customers: tuple[Customer, ...], per_customer: int = 2, seed: int = 11
) -> tuple[Order, ...]:
    """Return deterministic orders, ``per_customer`` for each customer.

    Args:
        customers: The customers to order for.
        per_customer: Orders per customer.
        seed: Random seed.

    Returns:
        The orders, ids from 1.
    """
    rng = random.Random(seed)
    orders: list[Order] = []
    for customer in customers:
        for _ in range(per_customer):
            orders.append(
                Order(
                    id=len(orders) + 1,
                    customer_id=customer.id,
                    item=rng.choice(ITEMS),
                    amount_cents=rng.randrange(500, 250_000),
                    note=f"contact {customer.email}, paid with {customer.card_number}",
                )
            )
    return tuple(orders)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def shop_schema_sql(customers: tuple[Customer, ...], orders: tuple[Order, ...]) -> str:
    """Return SQL that creates and fills the ``customers`` and ``orders`` tables."""
    lines = [
        "CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, email text NOT NULL,"
        " ssn text NOT NULL, card_number text NOT NULL, iban text NOT NULL, phone text NOT NULL);",
        "CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer NOT NULL"
        " REFERENCES customers(id), item text NOT NULL, amount numeric(10, 2) NOT NULL,"
        " note text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());",
    ]
    for c in customers:
        values = ", ".join(
            _literal(v) for v in (c.name, c.email, c.ssn, c.card_number, c.iban, c.phone)
        )
        lines.append(f"INSERT INTO customers VALUES ({c.id}, {values});")
    for o in orders:
        amount = f"{o.amount_cents // 100}.{o.amount_cents % 100:02d}"
        lines.append(
            f"INSERT INTO orders (id, customer_id, item, amount, note) VALUES"
            f" ({o.id}, {o.customer_id}, {_literal(o.item)}, {amount}, {_literal(o.note)});"
        )
    return "\n".join(lines) + "\n"
