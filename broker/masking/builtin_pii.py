"""The built-in detectors of personal data (cards, bank and national numbers, contacts) and of
network addresses."""

from __future__ import annotations

from broker.masking import checksums as ck
from broker.masking.detector import Detector, Trigger, build, value_groups

# Not preceded by a letter or digit, nor by a digit and one separator (the middle of a group).
_NB = rb"(?<![A-Za-z0-9])(?<![0-9][ \-.])"
# Before a value of fixed groups: a digit and a space start a new number when the value is
# written with dashes or dots (``row 5 219-09-9999``), not when it may be its first group.
_NB_SEP = rb"(?<![A-Za-z0-9])(?<![0-9][\-.])(?:(?<![0-9] )|(?=[0-9]+[\-.]))"


def _na(last: int) -> bytes:
    """After a value of fixed groups whose last group has ``last`` digits: not a letter or
    digit, nor a separator and a digit; but a space and a digit after a value written with
    dashes or dots is the next column (``219-09-9999 7``), not more of the number."""
    return rb"(?![A-Za-z0-9])(?![\-.][0-9])(?:(?! [0-9])|(?<=[\-.][0-9]{%d}))" % last


# Digit groups with the separators numbers are written with; at least 4 digits in 7 bytes.
DIGITS = Trigger("digits", b"0123456789 -.()+", 7, b"0123456789", 4)
# Hex digits with colon or dash separators (IPv6, MAC); at least two separators.
HEX = Trigger("hex", b"0123456789abcdefABCDEF:-", 7, b":-", 2)
_NUM = (3, 3)
# Words after which a bare nine-digit number is a national number (``SSN: 078051123``).
_AFTER_WORD = rb"(?![A-Za-z])[ \t]{0,3}(?i:number|no\.?|#)?[ \t]{0,3}[:=#]?[ \t]{0,3}"
_US_WORDS = rb"(?<![A-Za-z])(?i:ssn|social[ \t]security|itin|tax[ \t]id)" + _AFTER_WORD
_CA_WORDS = rb"(?<![A-Za-z])(?i:sin|nas|social[ \t]insurance)" + _AFTER_WORD
NATIONAL_CONTEXT = (40, 3)
"""Window of a detector that also reads a context word before a bare number."""


def _plus_near(text: bytes, i: int, j: int, marks: int) -> bool:
    return text.find(b"+", max(0, i - 1), j) >= 0


def _dots(text: bytes, i: int, j: int, marks: int) -> bool:
    return text.count(b".", i, j) >= 3


def _after_upper(text: bytes, i: int, j: int, marks: int) -> bool:
    before = text[max(0, i - 12) : i]
    return before != before.lower()


def _routing(text: bytes, i: int, j: int, marks: int) -> bool:
    before = text[max(0, i - 48) : i].lower()
    if any(w in before for w in (b"routing", b"aba", b"rtn", b"transit")):
        return True
    if marks == 9 and j - i == 9 and (i == 0 or text[i - 1] == 10):
        return j == len(text) or text[j] in b"\r\n"
    return text.count(b"-", i, j) >= 2


def _colons(text: bytes, i: int, j: int, marks: int) -> bool:
    return text.count(b":", i, j) >= 2


def _mac(text: bytes, i: int, j: int, marks: int) -> bool:
    return j - i >= 17 and (text.count(b":", i, j) >= 5 or text.count(b"-", i, j) >= 5)


_CARD = (
    # Cards are often listed one after another: a digit and a space before, or a space and a
    # digit after, start a new number; the same separator and a digit continue this one.
    rb"(?<![A-Za-z0-9])(?<![0-9][\-.])"
    # 13 to 19 digits in groups of four (a 19-digit card ends in a group of three)
    rb"(?:[0-9]{4}([ \-]?)[0-9]{4}\1[0-9]{4}\1(?:[0-9]{4}\1[0-9]{3}|[0-9]{1,7})(?!\1[0-9])"
    # 16 digits in groups of four apart by one or two spaces, two at least once
    # (``4111  1111 1111  1111``); what follows after spaces is another column
    rb"|(?=[0-9]{4}(?: {1,2}[0-9]{4}){0,2}  [0-9])[0-9]{4}(?: {1,2}[0-9]{4}){3}"
    rb"|3[47][0-9]{2}([ \-]?)[0-9]{6}\2[0-9]{5}(?!\2[0-9])"
    rb"|3[0-9]{3}([ \-]?)[0-9]{6}\3[0-9]{4}(?!\3[0-9]))"
    rb"(?![A-Za-z0-9])(?![\-.][0-9])"
)
_SSN = (
    _NB_SEP + rb"(?P<v1>[0-9]{3}([ \-.])[0-9]{2}\2[0-9]{4})" + _na(4)
    + rb"|" + _US_WORDS + rb"(?P<v2>[0-9]{9})(?![0-9A-Za-z])"
)  # fmt: skip
_ITIN = (
    _NB_SEP + rb"(?P<v1>9[0-9]{2}([ \-.])[0-9]{2}\2[0-9]{4})" + _na(4)
    + rb"|" + _US_WORDS + rb"(?P<v2>9[0-9]{8})(?![0-9A-Za-z])"
)  # fmt: skip
_SIN = (
    _NB_SEP + rb"(?P<v1>[0-9]{3}([ \-])[0-9]{3}\2[0-9]{3})" + _na(3)
    + rb"|" + _CA_WORDS + rb"(?P<v2>[0-9]{9})(?![0-9A-Za-z])"
)  # fmt: skip
_ABA = (
    rb"(?<![A-Za-z])(?i:routing|aba|rtn|transit)(?:[ \t_\-]*(?i:number|no\.?|num|#))?[ \t]*"
    rb"[:=#]?[ \t]*[\"']?(?P<v1>[0-9]{9}|[0-9]{4}-[0-9]{4}-[0-9])(?![0-9])"
    rb"|(?<![A-Za-z0-9\-])(?P<v2>[0-9]{4}-[0-9]{4}-[0-9])(?![A-Za-z0-9]|-[0-9])"
    # Alone on its line (a column cut from a bank file: its header is lines away).
    rb"|(?<![^\n])(?P<v3>[0-9]{9})(?![^\r\n])"
)
_EMAIL_LABEL = rb"[A-Za-z0-9_\-\x80-\xff]{1,63}"
# RFC 5322 ``atext`` and dots, less what joins an address to its surroundings in logs, paths and
# URLs (``user=``, ``/users/``, ``?to=``, ``|``, braces, quotes).
_EMAIL_LOCAL = rb"A-Za-z0-9._%+\-!#$&*^~"
_DOMAIN_END = rb"(?![A-Za-z0-9_\-\x80-\xff]|\.[A-Za-z0-9_\-\x80-\xff])"
# Addresses of services, not of people (every ``git remote -v`` shows one): the local part is
# exactly ``git`` or ``noreply`` (nothing of the local part's class before it).
_SERVICE_ADDRESS = (
    rb"(?!(?<=(?<![" + _EMAIL_LOCAL + rb"])(?i:git)@)"
    rb"(?i:github\.com|gitlab\.com|bitbucket\.org)" + _DOMAIN_END + rb")"
    rb"(?!(?<=(?<![" + _EMAIL_LOCAL + rb"])(?i:noreply)@)(?i:github\.com)" + _DOMAIN_END + rb")"
)

PII_DETECTORS: tuple[Detector, ...] = (
    build(
        "credit_card",
        "pii",
        _CARD,
        ck.card_ok,
        trigger=DIGITS,
        marks=(13, 19),
        window=_NUM,
    ),
    build(
        "iban",
        "pii",
        _NB + rb"[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}"
        rb"|([ \-])[A-Z0-9]{4}(?:\1[A-Z0-9]{4}){1,6}(?:\1[A-Z0-9]{1,4})?)(?![A-Za-z0-9])",
        ck.iban_ok,
        trigger=DIGITS,
        marks=(6, 34),
        accept=_after_upper,
        window=(12, 40),
    ),
    build(
        "us_ssn",
        "pii",
        _SSN,
        ck.ssn_ok,
        group=value_groups(_SSN),
        trigger=DIGITS,
        marks=(9, 9),
        window=NATIONAL_CONTEXT,
    ),
    build(
        "us_itin",
        "pii",
        _ITIN,
        ck.itin_ok,
        group=value_groups(_ITIN),
        trigger=DIGITS,
        marks=(9, 9),
        window=NATIONAL_CONTEXT,
    ),
    build(
        "aba_routing",
        "pii",
        _ABA,
        ck.aba_ok,
        group=value_groups(_ABA),
        trigger=DIGITS,
        marks=(9, 9),
        accept=_routing,
        window=(48, 3),
    ),
    build(
        "ca_sin",
        "pii",
        _SIN,
        ck.sin_ok,
        group=value_groups(_SIN),
        trigger=DIGITS,
        marks=(9, 9),
        window=NATIONAL_CONTEXT,
    ),
    build(
        "uk_nino",
        "pii",
        rb"(?<![A-Za-z0-9])(?i:[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z])"
        rb" ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?(?i:[A-D])(?![A-Za-z0-9])",
        ck.nino_ok,
    ),
    build(
        "br_cpf",
        "pii",
        _NB_SEP + rb"[0-9]{3}(?:\.[0-9]{3}\.[0-9]{3}-|[0-9]{6})[0-9]{2}" + _na(2),
        ck.cpf_ok,
        trigger=DIGITS,
        marks=(11, 11),
        window=_NUM,
    ),
    build(
        "in_aadhaar",
        "pii",
        _NB_SEP + rb"[2-9][0-9]{3}([ \-]?)[0-9]{4}\1[0-9]{4}" + _na(4),
        ck.aadhaar_ok,
        trigger=DIGITS,
        marks=(12, 12),
        window=_NUM,
    ),
    build(
        "imei",
        "pii",
        # AA-BBBBBB-CCCCCC-D (TAC, serial, check digit) and the older NNXXXX-YY-ZZZZZZ-A.
        _NB_SEP + rb"(?:[0-9]{2}([ \-]?)[0-9]{6}\1[0-9]{6}\1[0-9]"
        rb"|[0-9]{6}([ \-])[0-9]{2}\2[0-9]{6}\2[0-9])" + _na(1),
        ck.imei_ok,
        trigger=DIGITS,
        marks=(15, 15),
        window=_NUM,
    ),
    build(
        "email",
        "pii",
        # Labels as written in the wild (underscores, a leading or trailing hyphen, UTF-8 of
        # internationalised names); the top-level domain in letters, punycode or UTF-8.
        rb"@" + _SERVICE_ADDRESS + rb"(?:" + _EMAIL_LABEL + rb"\.)+"
        rb"(?:[A-Za-z]{2,63}(?![A-Za-z0-9\-])|xn--[A-Za-z0-9\-]{1,59}(?![A-Za-z0-9\-])"
        rb"|[\x80-\xff]{4,63}(?![\x80-\xff]))",
        anchors=(b"@",),
        window=(0, 256),
        extend_left=rb"[" + _EMAIL_LOCAL + rb"]{1,64}",
    ),
    build(
        "phone_e164",
        "pii",
        # 8 to 15 digits (E.164, ``ck.e164_ok``) counted by the pattern: no call per number.
        # The first branch is the common unpunctuated number (a fast single-class repeat); it
        # only matches where the general second branch would end at the same byte.
        rb"\+(?<![A-Za-z0-9+/=]\+)[1-9]"
        rb"(?:[0-9]{7,14}(?![0-9 \-.()])|(?:[ \-.]?\(?[0-9]\)?){7,14}(?![0-9]))",
        trigger=DIGITS,
        marks=(8, 15),
        accept=_plus_near,
        window=_NUM,
    ),
)

NETWORK_DETECTORS: tuple[Detector, ...] = (
    build(
        "ipv4",
        "network",
        rb"(?<![0-9.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}"
        rb"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?![0-9]|\.[0-9])",
        trigger=DIGITS,
        marks=(4, 12),
        accept=_dots,
        window=_NUM,
        default_on=False,
    ),
    build(
        "ipv6",
        "network",
        rb"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])",
        ck.ipv6_ok,
        trigger=HEX,
        accept=_colons,
        window=_NUM,
        default_on=False,
    ),
    build(
        "mac_address",
        "network",
        rb"(?<![0-9A-Fa-f:\-])[0-9A-Fa-f]{2}([:\-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}"
        rb"(?![0-9A-Fa-f:\-])",
        trigger=HEX,
        accept=_mac,
        window=_NUM,
        default_on=False,
    ),
)
