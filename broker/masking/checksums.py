"""Checksum and structural validators that keep random digit runs from being masked."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from operator import mul

# Per-country IBAN lengths (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27,
    "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_VERHOEFF_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


_NOT_DIGITS = bytes(b for b in range(256) if not 48 <= b <= 57)


def digits_of(value: bytes) -> str:
    """Return the ASCII digits of ``value`` (separators dropped) as a string."""
    return value.translate(None, _NOT_DIGITS).decode("ascii")


_LUHN_DOUBLE = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
# ASCII digit to its value, and to the digit sum of twice its value (Luhn's doubled digits).
_VALUE = bytes(b - 48 if 48 <= b <= 57 else 0 for b in range(256))
_DOUBLED = bytes(_LUHN_DOUBLE[b - 48] if 48 <= b <= 57 else 0 for b in range(256))


def _luhn_bytes(d: bytes) -> bool:
    return (sum(d[-1::-2].translate(_VALUE)) + sum(d[-2::-2].translate(_DOUBLED))) % 10 == 0


def luhn_ok(digits: str) -> bool:
    """Return True if ``digits`` passes the Luhn (mod 10) check."""
    if not digits.isdigit() or not digits.isascii():
        return False
    return _luhn_bytes(digits.encode("ascii"))


def verhoeff_check_digit(digits: str) -> str:
    """Return the Verhoeff check digit to append to ``digits``."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[(i + 1) % 8][ord(ch) - 48]]
    return str(_VERHOEFF_INV[c])


def verhoeff_ok(digits: str) -> bool:
    """Return True if ``digits`` (check digit last) passes the Verhoeff check."""
    if not digits.isdigit():
        return False
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][ord(ch) - 48]]
    return c == 0


def card_brand(digits: str) -> str | None:
    """Return the card scheme for a PAN's prefix and length, or None if no scheme fits."""
    n = len(digits)
    if n >= 6:  # one parse: the shorter prefixes are its quotients
        p6 = int(digits[:6])
        p1, p2, p3, p4 = p6 // 100000, p6 // 10000, p6 // 1000, p6 // 100
    else:
        p1, p2, p3, p4, p6 = (int(digits[:k]) for k in (1, 2, 3, 4, 6))
    if p1 == 4 and n in (13, 16, 19):
        return "visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "mastercard"
    if p2 in (34, 37) and n == 15:
        return "amex"
    if (p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925) and 16 <= n <= 19:
        return "discover"
    if 3528 <= p4 <= 3589 and 16 <= n <= 19:
        return "jcb"
    if (300 <= p3 <= 305 or p2 in (36, 38, 39)) and 14 <= n <= 19:
        return "diners"
    if p2 == 62 and 16 <= n <= 19:
        return "unionpay"
    if 2200 <= p4 <= 2204 and 16 <= n <= 19:
        return "mir"
    if (p2 == 50 or 56 <= p2 <= 69) and 12 <= n <= 19:
        return "maestro"  # also Dankort (5019) and RuPay's 60/65 ranges
    if p1 == 1 and n == 15:
        return "uatp"
    if p4 == 9792 and n == 16:
        return "troy"
    return None


def card_ok(value: bytes) -> bool:
    """Validate a payment card number: known scheme prefix and length, and Luhn."""
    d = value.translate(None, _NOT_DIGITS)
    n = len(d)
    if not (13 <= n <= 19 and _luhn_bytes(d)):
        return False
    if d[0] == 0x34:  # "4": Visa, the first rule of ``card_brand``
        return n in (13, 16, 19)
    return card_brand(d.decode("ascii")) is not None


def iban_ok(value: bytes) -> bool:
    """Validate an IBAN: the country's registered length and the ISO 7064 mod-97 check.

    A value written in groups may end with one extra short group that is not part of it (``VG96
    … 8901 X in a sentence``): the value is accepted when it is valid without that group.
    """
    if _iban_ok(value):
        return True
    head, sep, tail = value.rpartition(value[4:5] if value[4:5] in (b" ", b"-") else b" ")
    return bool(sep) and len(tail) < 4 and _iban_ok(head)


def _iban_ok(value: bytes) -> bool:
    compact = value.translate(None, b" -").decode("ascii", "replace").upper()
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(numeric) % 97 == 1


def ssn_ok(value: bytes) -> bool:
    """Validate a US SSN's structure: no 000/666/9xx area, no 00 group, no 0000 serial."""
    d = digits_of(value)
    if len(d) != 9:
        return False
    area, group, serial = d[:3], d[3:5], d[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def itin_ok(value: bytes) -> bool:
    """Validate a US ITIN: area 9xx and a group in 50-65, 70-88, 90-92 or 94-99."""
    d = digits_of(value)
    if len(d) != 9 or d[0] != "9":
        return False
    g = int(d[3:5])
    return 50 <= g <= 65 or 70 <= g <= 88 or 90 <= g <= 92 or 94 <= g <= 99


def aba_ok(value: bytes) -> bool:
    """Validate an ABA routing number: Federal Reserve prefix and the 3-7-1 checksum; one digit
    repeated nine times is a placeholder."""
    d = digits_of(value)
    if len(d) != 9 or d == d[0] * 9:
        return False
    prefix = int(d[:2])
    if not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    n = [ord(c) - 48 for c in d]
    return (3 * (n[0] + n[3] + n[6]) + 7 * (n[1] + n[4] + n[7]) + n[2] + n[5] + n[8]) % 10 == 0


def sin_ok(value: bytes) -> bool:
    """Validate a Canadian SIN: nine digits, no reserved first digit (0, 8), Luhn."""
    d = digits_of(value)
    return len(d) == 9 and d[0] not in "08" and luhn_ok(d)


def cpf_ok(value: bytes) -> bool:
    """Validate a Brazilian CPF: two mod-11 check digits; repeated digits are rejected."""
    n = value.translate(None, _NOT_DIGITS).translate(_VALUE)
    if len(n) != 11 or n.count(n[0]) == 11:
        return False
    first: int = sum(map(mul, n[:9], _CPF_WEIGHTS[1:])) * 10 % 11 % 10
    if first != n[9]:
        return False
    second: int = sum(map(mul, n[:10], _CPF_WEIGHTS)) * 10 % 11 % 10
    return second == n[10]


_CPF_WEIGHTS = (11, 10, 9, 8, 7, 6, 5, 4, 3, 2)


def aadhaar_ok(value: bytes) -> bool:
    """Validate an Indian Aadhaar number: twelve digits, first 2-9, Verhoeff."""
    d = digits_of(value)
    return len(d) == 12 and d[0] not in "01" and verhoeff_ok(d)


def imei_ok(value: bytes) -> bool:
    """Validate an IMEI: fifteen digits, Luhn."""
    d = value.translate(None, _NOT_DIGITS)
    return len(d) == 15 and _luhn_bytes(d)


_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def nino_ok(value: bytes) -> bool:
    """Validate a UK National Insurance number's prefix (the pattern checks the letters)."""
    return value[:2].decode("ascii", "replace").upper() not in _NINO_BAD_PREFIXES


def e164_ok(value: bytes) -> bool:
    """Validate an E.164 number: 8 to 15 digits after the plus."""
    return 8 <= len(value.translate(None, _NOT_DIGITS)) <= 15


def jwt_ok(value: bytes) -> bool:
    """Validate a JWT's header: base64url of a JSON object naming its algorithm."""
    header = value.split(b".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(header + b"=" * (-len(header) % 4))
        obj = json.loads(decoded)
    except (binascii.Error, ValueError):
        return False
    return isinstance(obj, dict) and ("alg" in obj or "typ" in obj)


def ipv4_ok(value: bytes) -> bool:
    """Validate a dotted-quad IPv4 address."""
    try:
        ipaddress.IPv4Address(value.decode("ascii"))
    except ValueError:
        return False
    return True


def ipv6_ok(value: bytes) -> bool:
    """Validate an IPv6 address: at least two colons, seven characters (not ``::1``), parseable."""
    if len(value) < 7 or value.count(b":") < 2:
        return False
    try:
        ipaddress.IPv6Address(value.decode("ascii"))
    except ValueError:
        return False
    return True
