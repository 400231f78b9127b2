"""The built-in detectors: secrets, personal data and network addresses."""

from __future__ import annotations

import re
from collections.abc import Callable

from broker.masking import checksums as ck
from broker.masking.detector import TOKEN_CONTINUATION, Accept, Category, Detector, Trigger

# Not preceded by a letter or digit, nor by a digit and one separator (the middle of a group).
_NB = rb"(?<![A-Za-z0-9])(?<![0-9][ \-.])"
# Not followed by a letter or digit, nor by a separator and a digit.
_NA = rb"(?![A-Za-z0-9])(?![ \-.][0-9])"
_PEM_CONTINUATION = re.compile(rb"[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*")
_PASSWORD_KEYS = rb"pass(?:word|wd|phrase)?|mysql_pwd|secret|api[_\-]?key"


def _d(
    name: str,
    category: Category,
    pattern: bytes,
    validator: Callable[[bytes], bool] | None = None,
    *,
    group: int | str | tuple[int, ...] = 0,
    anchors: tuple[bytes, ...] = (),
    anchor_re: bytes | None = None,
    anchors_ci: tuple[bytes, ...] = (),
    extend_left: bytes | None = None,
    trigger: Trigger | None = None,
    marks: tuple[int, int] = (0, 1 << 30),
    accept: Accept | None = None,
    window: tuple[int, int] = (0, 512),
    token: bool = False,
    continuation: re.Pattern[bytes] | None = None,
    default_on: bool = True,
) -> Detector:
    return Detector(
        name=name,
        category=category,
        regex=re.compile(pattern),
        validator=validator,
        group=group,
        anchors=anchors,
        anchor_re=re.compile(anchor_re) if anchor_re is not None else None,
        anchors_ci=anchors_ci,
        trigger=trigger,
        marks=marks,
        accept=accept,
        window=window,
        extend_left=re.compile(extend_left) if extend_left is not None else None,
        continuation=TOKEN_CONTINUATION if token else continuation,
        default_on=default_on,
    )


# Digit groups with the separators numbers are written with; at least 4 digits in 7 bytes.
DIGITS = Trigger("digits", b"0123456789 -.()+", 7, b"0123456789", 4)
# Hex digits with colon or dash separators (IPv6, MAC); at least two separators.
HEX = Trigger("hex", b"0123456789abcdefABCDEF:-", 7, b":-", 2)
_NUM = (3, 3)


def _plus_near(text: bytes, i: int, j: int, marks: int) -> bool:
    return text.find(b"+", max(0, i - 1), j) >= 0


def _dots(text: bytes, i: int, j: int, marks: int) -> bool:
    return text.count(b".", i, j) >= 3


def _after_upper(text: bytes, i: int, j: int, marks: int) -> bool:
    before = text[max(0, i - 12) : i]
    return before != before.lower()


def _after_routing_word(text: bytes, i: int, j: int, marks: int) -> bool:
    before = text[max(0, i - 48) : i].lower()
    return any(w in before for w in (b"routing", b"aba", b"rtn", b"transit"))


def _colons(text: bytes, i: int, j: int, marks: int) -> bool:
    return text.count(b":", i, j) >= 2


def _mac(text: bytes, i: int, j: int, marks: int) -> bool:
    return j - i >= 17 and (text.count(b":", i, j) >= 5 or text.count(b"-", i, j) >= 5)


_AWS_PREFIXES: tuple[bytes, ...] = (
    b"A3T",
    b"AKIA",
    b"ASIA",
    b"ABIA",
    b"ACCA",
    b"AGPA",
    b"AIDA",
    b"AIPA",
)
_AWS_PREFIXES += (b"ANPA", b"ANVA", b"APKA", b"AROA", b"ASCA")

SECRET_DETECTORS: tuple[Detector, ...] = (
    _d(
        "private_key",
        "secret",
        rb"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----(?:[\s\S]*?-----END \1-----|[\s\S]*)",
        anchors=(b"-----BEGIN ",),
        window=(0, 1 << 30),
        continuation=_PEM_CONTINUATION,
    ),
    _d(
        "jwt",
        "secret",
        rb"eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*",
        ck.jwt_ok,
        anchors=(b"eyJ",),
        window=(0, 16384),
        token=True,
    ),
    _d(
        "aws_access_key_id",
        "secret",
        rb"(?<![A-Z0-9])(?:" + b"|".join(_AWS_PREFIXES) + rb")[A-Z0-9]{16}(?![A-Z0-9])",
        anchor_re=rb"A(?:3T|KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA)",
    ),
    _d(
        "aws_secret_access_key",
        "secret",
        rb"(?i:aws_?secret_?access_?key|secret_?access_?key|aws_?secret(?:_?key)?)[\"']?[ \t]*"
        rb"[:=][ \t]*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        group=1,
        anchors_ci=(b"secret",),
        window=(48, 128),
    ),
    _d(
        "gcp_api_key",
        "secret",
        rb"AIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])",
        anchors=(b"AIza",),
        token=True,
    ),
    _d(
        "google_oauth_client_secret",
        "secret",
        rb"GOCSPX-[A-Za-z0-9_\-]{28}",
        anchors=(b"GOCSPX-",),
        token=True,
    ),
    _d(
        "azure_storage_key",
        "secret",
        rb"(?i:accountkey|sharedaccesskey|azure_?storage_?(?:account_?)?key)[\"']?[ \t]*[:=][ \t]*"
        rb"[\"']?([A-Za-z0-9+/]{86}==|[A-Za-z0-9+/]{43}=)",
        group=1,
        anchors_ci=(b"accountkey", b"accesskey", b"storage"),
        window=(32, 160),
    ),
    _d(
        "github_token",
        "secret",
        rb"gh[pousr]_[A-Za-z0-9]{36,251}(?![A-Za-z0-9])",
        anchor_re=rb"gh[pousr]_",
        token=True,
    ),
    _d(
        "github_fine_grained_token",
        "secret",
        rb"github_pat_[A-Za-z0-9_]{50,255}",
        anchors=(b"github_pat_",),
        token=True,
    ),
    _d(
        "gitlab_token",
        "secret",
        rb"(?:gl(?:pat|dt|rt|ptt|cbt|imt|soat|ft|oas)-|GR1348941)[0-9A-Za-z_\-]{20,}"
        rb"(?:\.[0-9a-z]{2}\.[0-9a-z]{7,9})?",
        anchor_re=rb"gl(?:pat|dt|rt|ptt|cbt|imt|soat|ft|oas)-|GR1348941",
        token=True,
    ),
    _d(
        "slack_token",
        "secret",
        rb"(?:xox[abpors]-|xapp-[0-9]-)[0-9A-Za-z\-]{10,250}",
        anchor_re=rb"xox[abpors]-|xapp-",
        token=True,
    ),
    _d(
        "slack_webhook",
        "secret",
        rb"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/\-]{20,}",
        anchors=(b"hooks.slack.com",),
        window=(8, 512),
        token=True,
    ),
    _d(
        "stripe_key",
        "secret",
        rb"(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{10,247}",
        anchor_re=rb"_(?:live|test)_",
        window=(2, 300),
        token=True,
    ),
    _d("npm_token", "secret", rb"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])", anchors=(b"npm_",)),
    _d(
        "pypi_token",
        "secret",
        rb"pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{50,}",
        anchors=(b"pypi-AgE",),
        token=True,
    ),
    _d(
        "sendgrid_api_key",
        "secret",
        rb"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}",
        anchors=(b"SG.",),
    ),
    _d(
        "openai_api_key",
        "secret",
        rb"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}T3BlbkFJ[A-Za-z0-9_\-]{16,}",
        anchors=(b"T3BlbkFJ",),
        window=(256, 512),
        token=True,
    ),
    _d(
        "anthropic_api_key",
        "secret",
        rb"sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_\-]{80,}",
        anchors=(b"sk-ant-",),
        token=True,
    ),
    _d(
        "huggingface_token",
        "secret",
        rb"hf_[A-Za-z]{34}(?![A-Za-z0-9])",
        anchors=(b"hf_",),
    ),
    _d(
        "digitalocean_token",
        "secret",
        rb"do[por]_v1_[a-f0-9]{64}(?![a-f0-9])",
        anchors=(b"_v1_",),
        window=(3, 80),
    ),
    _d(
        "url_password",
        "secret",
        rb"://[^\s:/?#@\"'<>]{1,128}:([^\s/?#@\"'<>]{1,256})@",
        group=1,
        anchors=(b"://",),
    ),
    _d(
        "password_assignment",
        "secret",
        rb"(?<![A-Za-z0-9])(?i:pg|(?:[a-z0-9]+[_.\-])*)(?i:" + _PASSWORD_KEYS + rb")"
        rb"(?i:[_.\-][a-z0-9]+){0,3}[\"']?[ \t]*(?:=|:(?!//))[ \t]*"
        rb"(?:\"([^\"\r\n]*)\"?|'([^'\r\n]*)'?|([^\s\"',;&}]+))",
        group=(1, 2, 3),
        anchors_ci=(b"pass", b"secret", b"mysql_pwd", b"apikey", b"api_key", b"api-key"),
        window=(64, 1024),
    ),
)

PII_DETECTORS: tuple[Detector, ...] = (
    _d(
        "credit_card",
        "pii",
        _NB + rb"(?:[0-9]{4}([ \-]?)[0-9]{4}\1[0-9]{4}\1[0-9]{1,7}"
        rb"|3[47][0-9]{2}([ \-]?)[0-9]{6}\2[0-9]{5}|3[0-9]{3}([ \-]?)[0-9]{6}\3[0-9]{4})" + _NA,
        ck.card_ok,
        trigger=DIGITS,
        marks=(13, 19),
        window=_NUM,
    ),
    _d(
        "iban",
        "pii",
        _NB + rb"[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)"
        rb"(?![A-Za-z0-9])",
        ck.iban_ok,
        trigger=DIGITS,
        marks=(6, 34),
        accept=_after_upper,
        window=(12, 40),
    ),
    _d(
        "us_ssn",
        "pii",
        _NB + rb"[0-9]{3}([ \-])[0-9]{2}\1[0-9]{4}" + _NA,
        ck.ssn_ok,
        trigger=DIGITS,
        marks=(9, 9),
        window=_NUM,
    ),
    _d(
        "us_itin",
        "pii",
        _NB + rb"9[0-9]{2}([ \-])[0-9]{2}\1[0-9]{4}" + _NA,
        ck.itin_ok,
        trigger=DIGITS,
        marks=(9, 9),
        window=_NUM,
    ),
    _d(
        "aba_routing",
        "pii",
        rb"(?<![A-Za-z])(?i:routing|aba|rtn|transit)(?:[ \t_\-]*(?i:number|no\.?|num|#))?[ \t]*"
        rb"[:=#]?[ \t]*[\"']?([0-9]{9})(?![0-9])",
        ck.aba_ok,
        group=1,
        trigger=DIGITS,
        marks=(9, 9),
        accept=_after_routing_word,
        window=(48, 3),
    ),
    _d(
        "ca_sin",
        "pii",
        _NB + rb"[0-9]{3}([ \-])[0-9]{3}\1[0-9]{3}" + _NA,
        ck.sin_ok,
        trigger=DIGITS,
        marks=(9, 9),
        window=_NUM,
    ),
    _d(
        "uk_nino",
        "pii",
        rb"(?<![A-Za-z0-9])[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]"
        rb"(?![A-Za-z0-9])",
        ck.nino_ok,
    ),
    _d(
        "br_cpf",
        "pii",
        _NB + rb"[0-9]{3}(?:\.[0-9]{3}\.[0-9]{3}-|[0-9]{6})[0-9]{2}" + _NA,
        ck.cpf_ok,
        trigger=DIGITS,
        marks=(11, 11),
        window=_NUM,
    ),
    _d(
        "in_aadhaar",
        "pii",
        _NB + rb"[2-9][0-9]{3}([ \-]?)[0-9]{4}\1[0-9]{4}" + _NA,
        ck.aadhaar_ok,
        trigger=DIGITS,
        marks=(12, 12),
        window=_NUM,
    ),
    _d(
        "imei",
        "pii",
        _NB + rb"[0-9]{2}([ \-]?)[0-9]{6}\1[0-9]{6}\1[0-9]" + _NA,
        ck.imei_ok,
        trigger=DIGITS,
        marks=(15, 15),
        window=_NUM,
    ),
    _d(
        "email",
        "pii",
        rb"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![A-Za-z0-9\-])",
        anchors=(b"@",),
        window=(0, 256),
        extend_left=rb"[A-Za-z0-9._%+\-]{1,64}",
    ),
    _d(
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
    _d(
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
    _d(
        "ipv6",
        "network",
        rb"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])",
        ck.ipv6_ok,
        trigger=HEX,
        accept=_colons,
        window=_NUM,
        default_on=False,
    ),
    _d(
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

BUILTIN_DETECTORS: tuple[Detector, ...] = SECRET_DETECTORS + PII_DETECTORS + NETWORK_DETECTORS
"""Every built-in detector, in precedence order (earlier wins when matches overlap)."""

BUILTIN_BY_NAME: dict[str, Detector] = {d.name: d for d in BUILTIN_DETECTORS}
