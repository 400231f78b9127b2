"""The exceptions the broker raises; every user-facing failure is one of these."""

from __future__ import annotations

from collections.abc import Sequence

from recordings.errors import RecordingError

__all__ = [
    "ApprovalRequired",
    "AuditVerificationError",
    "AuditWriteError",
    "ConfigError",
    "ConfigErrors",
    "GatehouseError",
    "HostKeyMismatch",
    "MaskingError",
    "PolicyDenied",
    "RecordingError",
    "UpstreamError",
    "VaultError",
]


class GatehouseError(Exception):
    """Base of every error the broker raises on purpose."""


class ConfigError(GatehouseError):
    """A config or policy file is invalid.

    Rendered as ``file:line: key: message`` so that an editor can jump to it.
    """

    def __init__(self, message: str, *, file: str = "", line: int = 0, key: str = "") -> None:
        self.file = file
        self.line = line
        self.key = key
        self.message = message
        super().__init__(self.render())

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else (self.file or "<config>")
        return f"{where}: {self.key or '-'}: {self.message}"

    def all(self) -> tuple[ConfigError, ...]:
        """Every problem this error stands for, in file order (one, here)."""
        return (self,)


class ConfigErrors(ConfigError):
    """Several problems found in one pass over the config and policy files.

    Its own ``file``/``line``/``key``/``message`` are the first problem's, so a caller that
    reports one error still reports a real one; :meth:`all` gives every one of them.
    """

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        self.errors = tuple(one for error in errors for one in error.all())
        if not self.errors:
            raise ValueError("ConfigErrors needs at least one error")
        first = self.errors[0]
        super().__init__(first.message, file=first.file, line=first.line, key=first.key)

    def render(self) -> str:
        return "\n".join(error.render() for error in self.errors)

    def all(self) -> tuple[ConfigError, ...]:
        return self.errors


class PolicyDenied(GatehouseError):
    """Policy denies the request; ``rule`` names the rule that decided (or ``default-deny``)."""

    def __init__(self, message: str, *, rule: str) -> None:
        self.rule = rule
        super().__init__(message)


class ApprovalRequired(GatehouseError):
    """Policy allows the request only after a human approval."""

    def __init__(self, message: str, *, rule: str) -> None:
        self.rule = rule
        super().__init__(message)


class VaultError(GatehouseError):
    """The vault cannot store or open a credential (never carries the credential itself)."""


class UpstreamError(GatehouseError):
    """A target cannot be reached, refused us, or broke the session."""


class HostKeyMismatch(UpstreamError):
    """A target presented a host key other than the pinned one."""


class AuditVerificationError(GatehouseError):
    """The audit log failed verification; ``seq`` names the first bad record."""

    def __init__(self, message: str, *, seq: int | None = None, segment: str = "") -> None:
        self.seq = seq
        self.segment = segment
        super().__init__(message)


class AuditWriteError(GatehouseError):
    """The audit log cannot be written; in strict mode sessions end."""


class MaskingError(GatehouseError):
    """Masking failed on a chunk; the chunk is withheld (fail closed)."""
