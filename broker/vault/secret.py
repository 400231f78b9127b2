"""A credential value that never shows itself in repr, str, logs or tracebacks."""

from __future__ import annotations


class Secret:
    """Holds credential bytes; only :meth:`reveal` gives them out."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        """The raw credential, for handing to an upstream library and nothing else."""
        return self._value

    def reveal_text(self) -> str:
        """The credential as text (passwords)."""
        return self._value.decode("utf-8", "strict").rstrip("\r\n")

    @property
    def is_private_key(self) -> bool:
        """Whether the value looks like a PEM or OpenSSH private key."""
        return b"PRIVATE KEY-----" in self._value[:200]

    def __repr__(self) -> str:
        return "Secret(<withheld>)"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")
