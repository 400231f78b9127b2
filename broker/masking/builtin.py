"""The built-in detectors: secrets here, personal data and network addresses in ``builtin_pii``."""

from __future__ import annotations

import re

from broker.masking import checksums as ck
from broker.masking.assignment import ASSIGNMENT, ASSIGNMENT_ANCHORS
from broker.masking.builtin_pii import NETWORK_DETECTORS, PII_DETECTORS
from broker.masking.cmdline import COMMAND_LINE_DETECTORS
from broker.masking.detector import Detector, build, value_groups

_PEM_CONTINUATION = re.compile(rb"[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*")

_AWS_PREFIXES: tuple[bytes, ...] = (
    b"AKIA",
    b"ASIA",
    b"ABIA",
    b"ACCA",
    b"AGPA",
    b"AIDA",
    b"AIPA",
)
_AWS_PREFIXES += (b"ANPA", b"ANVA", b"APKA", b"AROA", b"ASCA")

# GitLab's token prefixes and the length of what follows each (GitLab's token documentation).
_GL_BODY = rb"[0-9A-Za-z_\-]"
_GL_END = rb"(?![0-9A-Za-z_\-])"
_GITLAB_PREFIX = rb"gl(?:pat|dt|rt|ptt|cbt|imt|soat|ft|oas|agent|ffct)-|GR1348941"
_GITLAB = (
    rb"(?:gl(?:pat|dt|rt|ft|soat|ffct)-|GR1348941)" + _GL_BODY + rb"{20,50}"
    + rb"(?:\.[0-9a-z]{2}\.[0-9a-z]{7,9})?" + _GL_END
    + rb"|glcbt-(?:[0-9a-fA-F]{1,5}_)?" + _GL_BODY + rb"{20,50}" + _GL_END
    + rb"|glimt-" + _GL_BODY + rb"{25}" + _GL_END
    + rb"|glptt-" + _GL_BODY + rb"{40}" + _GL_END
    + rb"|glagent-" + _GL_BODY + rb"{50,1024}" + _GL_END
    + rb"|gloas-" + _GL_BODY + rb"{64}" + _GL_END
)  # fmt: skip
# npm tokens, and the token of a registry line of ``.npmrc`` (``//host/path/:_authToken=…``).
_NPM = (
    rb"(?P<v1>npm_[A-Za-z0-9]{36})(?![A-Za-z0-9])"
    rb"|//[A-Za-z0-9.\-]+(?::[0-9]+)?(?:/[^\s/:]*)*/:_authToken=[ \t]*(?!\$\{)(?P<v2>[^\s\"']+)"
)

SECRET_DETECTORS: tuple[Detector, ...] = (
    build(
        "private_key",
        "secret",
        rb"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----(?:[\s\S]*?-----END \1-----|[\s\S]*)",
        anchors=(b"-----BEGIN ",),
        window=(0, 1 << 30),
        continuation=_PEM_CONTINUATION,
    ),
    build(
        "jwt",
        "secret",
        rb"eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}(?:\.[A-Za-z0-9_\-]*)?",
        ck.jwt_ok,
        anchors=(b"eyJ",),
        window=(0, 16384),
        token=True,
    ),
    build(
        "aws_access_key_id",
        "secret",
        rb"(?<![A-Z0-9])(?:A3T[A-Z0-9]|" + b"|".join(_AWS_PREFIXES) + rb")[A-Z0-9]{16}(?![A-Z0-9])",
        anchor_re=rb"A(?:3T|KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA)",
    ),
    build(
        "aws_secret_access_key",
        "secret",
        rb"(?i:aws_?secret_?access_?key|secret_?access_?key|aws_?secret(?:_?key)?)[\"']?[ \t]*"
        rb"[:=][ \t]*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        group=1,
        anchors_ci=(b"secret",),
        window=(48, 128),
    ),
    build(
        "gcp_api_key",
        "secret",
        rb"AIza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])",
        anchors=(b"AIza",),
        token=True,
    ),
    build(
        "google_oauth_client_secret",
        "secret",
        rb"GOCSPX-[A-Za-z0-9_\-]{28}",
        anchors=(b"GOCSPX-",),
        token=True,
    ),
    build(
        "azure_storage_key",
        "secret",
        rb"(?i:accountkey|sharedaccesskey|azure_?storage_?(?:account_?)?key)[\"']?[ \t]*[:=][ \t]*"
        rb"[\"']?([A-Za-z0-9+/]{86}==|[A-Za-z0-9+/]{43}=)",
        group=1,
        anchors_ci=(b"accountkey", b"accesskey", b"storage"),
        window=(32, 160),
    ),
    build(
        "github_token",
        "secret",
        rb"gh[pousr]_[A-Za-z0-9]{36,251}(?![A-Za-z0-9])",
        anchor_re=rb"gh[pousr]_",
        token=True,
    ),
    build(
        "github_fine_grained_token",
        "secret",
        rb"github_pat_[A-Za-z0-9_]{50,255}",
        anchors=(b"github_pat_",),
        token=True,
    ),
    build(
        "gitlab_token",
        "secret",
        _GITLAB,
        anchor_re=_GITLAB_PREFIX,
        window=(0, 1100),
        token=True,
    ),
    build(
        "slack_token",
        "secret",
        # Bot, user, app-level tokens; with token rotation, refresh (xoxe-) and access
        # (xoxe.xoxp-) tokens.
        rb"(?:xox[abpors]-|xoxe(?:\.xox[bp])?-|xapp-[0-9]-)[0-9A-Za-z\-]{10,250}",
        anchor_re=rb"xox[abpors]-|xoxe[.\-]|xapp-",
        token=True,
    ),
    build(
        "slack_webhook",
        "secret",
        rb"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/\-]{20,}",
        anchors=(b"hooks.slack.com",),
        window=(8, 512),
        token=True,
    ),
    build(
        "stripe_key",
        "secret",
        # Secret and restricted keys; publishable keys (pk_) are public by design.
        rb"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{10,247}",
        anchor_re=rb"_(?:live|test)_",
        window=(2, 300),
        token=True,
    ),
    build(
        "npm_token",
        "secret",
        _NPM,
        group=value_groups(_NPM),
        anchors=(b"npm_", b":_authToken="),
        window=(256, 512),
    ),
    build(
        "pypi_token",
        "secret",
        rb"pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{70,}",
        anchors=(b"pypi-AgE",),
        token=True,
    ),
    build(
        "sendgrid_api_key",
        "secret",
        rb"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}",
        anchors=(b"SG.",),
    ),
    build(
        "openai_api_key",
        "secret",
        rb"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}T3BlbkFJ[A-Za-z0-9_\-]{16,}",
        anchors=(b"T3BlbkFJ",),
        window=(256, 512),
        token=True,
    ),
    build(
        "anthropic_api_key",
        "secret",
        rb"sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_\-]{80,}",
        anchors=(b"sk-ant-",),
        token=True,
    ),
    build(
        "huggingface_token",
        "secret",
        rb"hf_[A-Za-z]{34}(?![A-Za-z0-9])",
        anchors=(b"hf_",),
    ),
    build(
        "digitalocean_token",
        "secret",
        rb"do[por]_v1_[a-f0-9]{64}(?![a-f0-9])",
        anchors=(b"_v1_",),
        window=(3, 80),
    ),
    build(
        "url_password",
        "secret",
        rb"://[^\s:/?#@\"'<>]{1,128}:([^\s/?#@\"'<>]{1,256})@",
        group=1,
        anchors=(b"://",),
    ),
    build(
        "password_assignment",
        "secret",
        ASSIGNMENT,
        group=value_groups(ASSIGNMENT),
        anchors_ci=ASSIGNMENT_ANCHORS,
        window=(64, 1024),
    ),
)

BUILTIN_DETECTORS: tuple[Detector, ...] = (
    SECRET_DETECTORS + COMMAND_LINE_DETECTORS + PII_DETECTORS + NETWORK_DETECTORS
)
"""Every built-in detector, in precedence order (earlier wins when matches overlap)."""

BUILTIN_BY_NAME: dict[str, Detector] = {d.name: d for d in BUILTIN_DETECTORS}
