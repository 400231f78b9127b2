"""The pattern of ``password_assignment``: a password-like key given a value.

Three forms, each with its value in groups named ``v…`` (the first that takes part is masked):

* ``key = value``, ``key: value``, ``key := value``, ``"key": "value"``, ``dict["key"] = value``,
  ``key[] = value``, ``key = @"value"``: the key may be glued to a prefix (``theapikey``,
  ``PGPASSWORD``) or carry separated suffixes (``password_file``); a bare ``pass`` stands alone
  (``compass``, ``pass-through: …`` are prose). The value runs to the closing quote, or unquoted
  to white space, a quote, ``;``, ``&`` or ``,``: punctuation inside a secret is part of it, so a
  mask never leaves the middle of one.
* ``key "value";``: a quoted value without white space, then a semicolon (C-like configuration).
* ``--http-password value``: a command-line option and its argument.
* ``Authorization: Bearer value`` (and ``Basic``, ``token`` …): an HTTP header's credentials,
  as ``curl -H`` puts them on a command line.

Not values: empty quotes, variable references (``${link}``, ``$API_KEY``), templates
(``{{ vault_pw }}``), booleans and null, a call or subscript (``foo(x)``, ``req.json['pw']``),
the key's own name (``password=password``), a placeholder spelled with ``fake``, and in the
semicolon form a path with three or more slashes.
"""

from __future__ import annotations

_KEYS = rb"password|passwd|passphrase|secret|api[_\-]?key|private[_\-]?key|mysql_pwd|pass"
_GLUED_KEYS = rb"password|passwd|passphrase|secret|api[_\-]?key|private[_\-]?key"
# After a value: white space, a separator, or the end.
_END = rb"(?![^\s;,&])"
_PLACEHOLDER = rb"(?![A-Za-z]*(?i:fake)[A-Za-z]*[\"'])"


def _not_a_value(own_key: bool) -> bytes:
    refs: tuple[bytes, ...] = (
        rb"\$\{[^}\s]*\}" + _END,
        rb"\$[A-Za-z_][A-Za-z0-9_]*" + _END,
        rb"\{\{",
        rb"(?i:true|false|none|null|nil|undefined)" + _END,
        # Code: a call or subscript made of identifiers and quotes only (``foo(hey)you``,
        # ``req.json['pw']``); a secret with other punctuation (``p(4)$s``) is still one.
        rb"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*[(\[][A-Za-z0-9_.'\"()\[\]]*" + _END,
    )
    if own_key:
        refs += (rb"(?i:(?P=kw))(?![A-Za-z0-9_])",)
    return rb"(?!" + b"|".join(refs) + rb")"


def _value(n: int, own_key: bool) -> bytes:
    """Quoted (double or single) or unquoted value; groups ``v{n}``, ``v{n+1}``, ``v{n+2}``."""
    return (
        rb"(?:\"" + _PLACEHOLDER + rb"(?!\$\{[^}\"\s]*\}\")(?P<v%d>[^\"\r\n]*)\"?" % n
        + rb"|'" + _PLACEHOLDER + rb"(?!\$\{[^}'\s]*\}')(?P<v%d>[^'\r\n]*)'?" % (n + 1)
        + rb"|" + _not_a_value(own_key) + rb"(?P<v%d>[^\s\"'`;&,]+))" % (n + 2)
    )  # fmt: skip


_ASSIGNED = (
    rb"(?<![A-Za-z0-9_.\-])[A-Za-z0-9_.\-]{0,48}?(?P<kw>(?i:" + _KEYS + rb"))"
    # A bare "pass" is not glued to a word before it (compass), and takes no suffix.
    + rb"(?:(?<![A-Za-z0-9](?i:pass))|(?<=(?i:pgpass)))"
    + rb"(?:(?<=(?i:pass))|(?<!(?i:pass))(?i:[_.\-][a-z0-9]+){0,3})"
    # Atomic: a value never starts inside the separator (``:=``, ``= @"…"``).
    + rb"(?>(?:\[\])?[\"']?\]?[ \t]*(?::=|=(?!=)|:(?!//))[ \t]*@?)"
    + _value(1, own_key=True)
)  # fmt: skip
_QUOTED_STATEMENT = (
    rb"(?<![A-Za-z0-9_.\-])[A-Za-z0-9_.\-]{0,48}?(?i:" + _GLUED_KEYS + rb")[A-Za-z0-9_]{0,48}"
    + rb"[ \t]*(?:\"" + _PLACEHOLDER + rb"(?!\$\{)(?![^\"\s]*(?:/[^\"\s/]*){3})"
    + rb"(?P<v4>[^\"\s]+)\"|'" + _PLACEHOLDER + rb"(?!\$\{)(?![^'\s]*(?:/[^'\s/]*){3})"
    + rb"(?P<v5>[^'\s]+)');"
)  # fmt: skip
_OPTION = (
    rb"(?<![A-Za-z0-9_\-])--(?:[A-Za-z0-9]{1,12}-){0,3}(?i:password|passwd|pass)[ \t]+(?!-)"
    + _value(6, own_key=False)
)

_HEADER = (
    rb"(?<![A-Za-z0-9_\-])(?i:proxy-)?(?i:authorization)[\"']?[ \t]*[:=][ \t]*[\"']?"
    rb"(?i:bearer|basic|token|digest|negotiate|ntlm)[ \t]+"
    + _not_a_value(own_key=False)
    + rb"(?!%[sd])(?P<v9>[^\s\"'`;,]+)"
)

ASSIGNMENT = (
    _ASSIGNED + rb"|" + _QUOTED_STATEMENT + rb"|" + _OPTION + rb"|" + _HEADER
)  # fmt: skip
"""The pattern (bytes); value groups are named ``v1`` … ``v9``."""
ASSIGNMENT_ANCHORS = (
    b"pass",
    b"secret",
    b"mysql_pwd",
    b"apikey",
    b"api_key",
    b"api-key",
    b"privatekey",
    b"private_key",
    b"private-key",
    b"authorization",
)
"""Lower-case literals one of which every match contains."""
