"""The demo database's `customers` table: fake personal data that passes the detectors' checks.

Deterministic (a fixed seed), so a rerun loads the same rows; the card numbers pass the Luhn
check and the IBANs their ISO 7064 check digits, so the masking engine treats them as real. Pure.
"""

from __future__ import annotations

import random

FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Leslie")
LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Lamport")
CITIES = ("Berlin", "Lisbon", "Oslo", "Austin", "Toronto", "Lyon", "Porto", "Leeds")
ROWS = 200


def luhn_digit(payload: str) -> str:
    """The Luhn check digit completing ``payload``."""
    total = 0
    for index, char in enumerate(reversed(payload)):
        digit = int(char) * (2 if index % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return str((10 - total % 10) % 10)


def german_iban(bban: str) -> str:
    """The German IBAN of an 18-digit BBAN (bank code and account)."""
    numeric = "".join(str(int(char, 36)) for char in bban + "DE00")
    return f"DE{98 - int(numeric) % 97:02d}{bban}"


def customers(count: int = ROWS) -> list[tuple[int, str, str, str, str, str, str, str]]:
    """Rows of (id, name, email, phone, card_number, iban, ssn, city)."""
    rng = random.Random(14)
    out = []
    for n in range(1, count + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        body = "4" + "".join(str(rng.randrange(10)) for _ in range(14))
        area = rng.choice([a for a in range(1, 900) if a != 666])
        out.append(
            (
                n,
                f"{first} {last}",
                f"{first.lower()}.{last.lower()}{n}@example.com",
                f"+1415{rng.randrange(10**7):07d}",
                body + luhn_digit(body),
                german_iban("".join(str(rng.randrange(10)) for _ in range(18))),
                f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}",
                rng.choice(CITIES),
            )
        )
    return out


def customers_sql() -> str:
    """SQL that creates and fills `customers` once (a rerun leaves it as it is)."""
    values = ",\n".join(
        f"({n}, '{name}', '{email}', '{phone}', '{card}', '{iban}', '{ssn}', '{city}')"
        for n, name, email, phone, card, iban, ssn, city in customers()
    )
    return (
        "CREATE TABLE IF NOT EXISTS customers (id int PRIMARY KEY, name text, email text,"  # noqa: S608  (generated literals)
        " phone text, card_number text, iban text, ssn text, city text);\n"
        "INSERT INTO customers SELECT * FROM (VALUES\n"
        f"{values}\n) AS v WHERE NOT EXISTS (SELECT FROM customers);\n"
    )
