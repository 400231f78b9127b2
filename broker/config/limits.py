"""Resource limits from config: pre-auth connections, sessions per connection, recording quotas."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from broker.common.yamlsrc import KeyPath, Reader

_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h)?\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class MaxStartups:
    """OpenSSH's ``MaxStartups start:rate:full`` for connections that have not logged in yet."""

    start: int = 64
    """Below this many unauthenticated connections, every new one is taken."""
    rate: int = 30
    """At ``start``, a new connection is dropped with this probability (percent)..."""
    full: int = 256
    """...rising linearly to 100% at this many."""

    def __post_init__(self) -> None:
        if not (1 <= self.start <= self.full and 0 <= self.rate <= 100):
            raise ValueError("needs 1 <= start <= full and 0 <= rate <= 100")

    @classmethod
    def parse(cls, text: str) -> MaxStartups:
        """``"10:30:100"`` (or a single number: no early drop below it).

        Raises:
            ValueError: the text is not of that form.
        """
        parts = text.split(":")
        if len(parts) == 1 and parts[0].strip().isdigit():
            full = int(parts[0])
            return cls(full, 100, full)
        if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
            raise ValueError("must be START:RATE:FULL, e.g. 10:30:100")
        start, rate, full = (int(p) for p in parts)
        return cls(start, rate, full)

    def __str__(self) -> str:
        return f"{self.start}:{self.rate}:{self.full}"


@dataclass(frozen=True)
class Limits:
    """Bounds on what clients may cost the broker before and after they log in."""

    max_startups: MaxStartups = field(default_factory=MaxStartups)
    """Unauthenticated connections in all, with early random drop."""
    per_source: int = 32
    """Unauthenticated connections from one client address (below ``start``: one address alone
    never makes the broker drop others' connections early)."""
    login_grace: float = 30.0
    """Seconds a connection may take to log in before it is closed."""
    sessions_per_connection: int = 10
    """Sessions (channels) one SSH connection may run at once; more are refused."""


@dataclass(frozen=True)
class RecordingQuota:
    """How much disk recordings may take, and what is kept free for the audit log."""

    max_session_bytes: int = 0
    """A session whose recording grows beyond this is ended (0: no limit)."""
    max_total_bytes: int = 0
    """Recordings in all (on disk and being written); beyond it, the writing session ends."""
    reserve_bytes: int = 256 << 20
    """Free space on the state dir's disk that recordings never take (the audit log's)."""

    @property
    def enforced(self) -> bool:
        return bool(self.max_session_bytes or self.max_total_bytes or self.reserve_bytes)


def parse_size(text: str | int) -> int:
    """Bytes from ``1048576``, ``"64KiB"``, ``"512M"``, ``"10GB"`` (powers of 1024).

    Raises:
        ValueError: not a size.
    """
    if isinstance(text, bool):
        raise ValueError("not a size")
    if isinstance(text, int):
        if text < 0:
            raise ValueError("must not be negative")
        return text
    match = _SIZE.match(text)
    if match is None:
        raise ValueError("must be a size such as 1048576, 64KiB, 512MiB or 10GiB")
    unit = (match[2] or "").lower()[:1]
    return int(match[1]) * _UNITS[unit]


def parse_duration(text: str | int) -> float:
    """Seconds from ``30``, ``"30s"``, ``"2m"``, ``"1h"``.

    Raises:
        ValueError: not a duration.
    """
    if isinstance(text, bool):
        raise ValueError("not a duration")
    if isinstance(text, int):
        return float(text)
    match = _DURATION.match(text)
    if match is None:
        raise ValueError("must be a duration such as 30, 30s, 2m or 1h")
    return float(int(match[1]) * _SECONDS[match[2] or ""])


def parse_limits(r: Reader) -> Limits:
    """The ``limits:`` mapping (every key optional).

    Raises:
        ConfigError: naming the key and the problem.
    """
    base: KeyPath = ("limits",)
    r.mapping(base)
    r.only_keys(base, ("max_startups", "per_source", "login_grace", "sessions_per_connection"))
    defaults = Limits()
    startups = defaults.max_startups
    raw = r.get((*base, "max_startups"))
    if raw is not None:
        try:
            startups = MaxStartups.parse(str(raw))
        except ValueError as exc:
            raise r.src.error((*base, "max_startups"), str(exc)) from None
    grace = defaults.login_grace
    raw = r.get((*base, "login_grace"))
    if raw is not None:
        try:
            grace = parse_duration(raw)
        except ValueError as exc:
            raise r.src.error((*base, "login_grace"), str(exc)) from None
        if not 1 <= grace <= 600:
            raise r.src.error((*base, "login_grace"), "must be from 1s to 10m")
    return Limits(
        max_startups=startups,
        per_source=r.integer((*base, "per_source"), default=defaults.per_source, lo=1, hi=100000),
        login_grace=grace,
        sessions_per_connection=r.integer(
            (*base, "sessions_per_connection"),
            default=defaults.sessions_per_connection,
            lo=1,
            hi=1000,
        ),
    )


QUOTA_KEYS = ("max_session_bytes", "max_total_bytes", "reserve_bytes")


def parse_quota(r: Reader) -> RecordingQuota:
    """The quota keys of the ``recording:`` mapping (sizes: bytes or ``64KiB``, ``10GiB`` …).

    Raises:
        ConfigError: naming the key and the problem.
    """
    values: dict[str, int] = {}
    for key in QUOTA_KEYS:
        path: KeyPath = ("recording", key)
        raw = r.get(path)
        if raw is None:
            continue
        try:
            values[key] = parse_size(raw)
        except ValueError as exc:
            raise r.src.error(path, str(exc)) from None
    return RecordingQuota(**values)
