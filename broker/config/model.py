"""Config loading: `gatehouse.yaml` → frozen dataclasses, loaded once and passed explicitly."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import asyncssh

from broker.common.accounts import Host
from broker.common.yamlsrc import KeyPath, Reader, Source, load_yaml
from broker.config.limits import (
    QUOTA_KEYS,
    Limits,
    RecordingQuota,
    parse_duration,
    parse_limits,
    parse_quota,
)
from broker.config.local import LOCAL_KEYS, LocalSettings, check_run_as, parse_local
from broker.config.oidc import OidcSettings, parse_oidc

ConnectionType = Literal["ssh", "postgres", "local"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-", "sk-ssh-ed25519", "sk-ecdsa-sha2-")
TOP_LEVEL_KEYS = (
    "listen",
    "state_dir",
    "users",
    "oidc",
    "connections",
    "policies",
    "recording",
    "audit",
    "store",
    "masking_key",
    "limits",
    "approvals",
)


@dataclass(frozen=True)
class User:
    """A person or robot allowed to log in."""

    name: str
    """Login name used in `ssh NAME@gatehouse`."""
    keys: tuple[str, ...]
    """Authorized public keys, OpenSSH one-line format."""
    groups: tuple[str, ...]
    """Groups, matched by policy rules."""


@dataclass(frozen=True)
class Connection:
    """A target the broker can open a session to."""

    name: str
    """Name users pick and policies match."""
    type: ConnectionType
    """`ssh`, `postgres` or `local`."""
    host: str = ""
    """Target address (ssh, postgres)."""
    port: int = 0
    """Target port (ssh default 22, postgres 5432)."""
    user: str = ""
    """Login user on the target."""
    credential: str = ""
    """Vault entry holding the password or private key; never the secret itself."""
    host_key: str = ""
    """Pinned target host key (ssh): `ssh-ed25519 AAAA…`."""
    database: str = ""
    """Database name (postgres)."""
    command: tuple[str, ...] = ()
    """Command line (local)."""
    local: LocalSettings = field(default_factory=LocalSettings)
    """Local: the account it runs as and whether `run` gives it a command."""
    description: str = ""
    """Free text shown in the picker."""
    read_only: bool = False
    """Postgres: only read statements are allowed."""
    statement_timeout: int = 300
    """Postgres: seconds a statement may run before the server cancels it."""

    @property
    def target(self) -> str:
        """A short human description of where this goes."""
        if self.type == "local":
            who = self.local.run_as or "the broker's own account"
            return f"{' '.join(self.command)} (as {who})"
        who = f"{self.user}@" if self.user else ""
        db = f"/{self.database}" if self.database else ""
        return f"{who}{self.host}:{self.port}{db}"


@dataclass(frozen=True)
class RecordingSettings:
    """How sessions are recorded."""

    retention_days: int = 365
    """Recordings older than this are deleted (the deletion is audited)."""
    strict: bool = True
    """End the session if the recording cannot be written."""
    quota: RecordingQuota = field(default_factory=RecordingQuota)
    """Disk quotas per session and in all, and the free space kept for the audit log."""


@dataclass(frozen=True)
class AuditSettings:
    """Where audit records go."""

    strict: bool = True
    """Refuse/end sessions when the audit log cannot be written."""
    sinks: tuple[Mapping[str, str], ...] = ()
    """Extra copies: `{syslog: tcp://host:port}` or `{file: path}`."""


@dataclass(frozen=True)
class Config:
    """The whole broker configuration."""

    path: Path
    """The config file it was read from."""
    listen_host: str
    listen_port: int
    state_dir: Path
    """Absolute state directory (keys, vault, audit log, recordings)."""
    users: Mapping[str, User]
    connections: Mapping[str, Connection]
    policy_files: tuple[Path, ...]
    recording: RecordingSettings = field(default_factory=RecordingSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    store: str | Mapping[str, str] = "sqlite"
    oidc: OidcSettings | None = None
    limits: Limits = field(default_factory=Limits)
    """Pre-auth connections, sessions per connection."""
    approvals_webhook: str = ""
    """`approvals: {webhook: URL}`: a Slack-compatible URL told of requests and decisions."""
    approvals_expire_after: float = 24 * 3600.0
    """`approvals: {expire_after: 24h}`: how long a request may stay pending (seconds)."""

    @property
    def keys_dir(self) -> Path:
        return self.state_dir / "keys"


def _parse_listen(r: Reader) -> tuple[str, int]:
    text = r.string(("listen",), default="127.0.0.1:2222")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise r.src.error(("listen",), f"must be HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _check_key(r: Reader, path: KeyPath, line: str) -> None:
    """Refuse a key line OpenSSH would not read: unknown type, missing or bad base64 body."""
    if not line.startswith(_KEY_TYPES) or len(line.split()) < 2:
        raise r.src.error(path, "not an OpenSSH public key line")
    try:
        asyncssh.import_public_key(line)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise r.src.error(path, f"not a valid public key ({exc})") from None


def _parse_users(r: Reader) -> dict[str, User]:
    users: dict[str, User] = {}
    for name in r.mapping(("users",)):
        path: KeyPath = ("users", name)
        with r.collecting():
            if not _NAME.match(name):
                raise r.src.error(path, "user names are letters, digits, '.', '_' or '-'")
            r.mapping(path, required=True)
            r.only_keys(path, ("keys", "groups"))
            keys = r.strings((*path, "keys"))
            for i, key in enumerate(keys):
                with r.collecting():
                    _check_key(r, (*path, "keys", i), key)
            users[name] = User(name=name, keys=keys, groups=r.strings((*path, "groups")))
    return users


_CONN_KEYS = {
    "ssh": ("type", "host", "port", "user", "credential", "host_key", "description"),
    "postgres": (
        "type",
        "host",
        "port",
        "user",
        "credential",
        "database",
        "description",
        "read_only",
        "statement_timeout",
    ),
    "local": LOCAL_KEYS,
}


def _parse_connection(r: Reader, name: str) -> Connection:
    path: KeyPath = ("connections", name)
    if not _NAME.match(name):
        raise r.src.error(path, "connection names are letters, digits, '.', '_' or '-'")
    r.mapping(path, required=True)
    kind = r.string((*path, "type"), required=True)
    if kind not in _CONN_KEYS:
        raise r.src.error((*path, "type"), f"unknown type {kind!r} (ssh, postgres or local)")
    r.only_keys(path, _CONN_KEYS[kind])
    description = r.string((*path, "description"))
    if kind == "local":
        command = r.strings((*path, "command"))
        if not command:
            raise r.src.error((*path, "command"), "is required for a local connection")
        return Connection(
            name=name,
            type="local",
            command=command,
            description=description,
            local=parse_local(r, path),
        )
    port = r.integer((*path, "port"), default=22 if kind == "ssh" else 5432, lo=1, hi=65535)
    host = r.string((*path, "host"), required=True)
    user = r.string((*path, "user"), required=True)
    credential = r.string((*path, "credential"), required=True)
    if kind == "ssh":
        host_key = r.string((*path, "host_key"), required=True)
        if not host_key.startswith(_KEY_TYPES) or len(host_key.split()) < 2:
            raise r.src.error((*path, "host_key"), "must be a public key line (ssh-ed25519 AAAA…)")
        return Connection(
            name=name,
            type="ssh",
            host=host,
            port=port,
            user=user,
            credential=credential,
            host_key=host_key,
            description=description,
        )
    return Connection(
        name=name,
        type="postgres",
        host=host,
        port=port,
        user=user,
        credential=credential,
        database=r.string((*path, "database"), required=True),
        description=description,
        read_only=r.boolean((*path, "read_only"), default=False),
        statement_timeout=r.integer((*path, "statement_timeout"), default=300, lo=1, hi=86400),
    )


def _parse_audit(r: Reader, base: Path) -> AuditSettings:
    r.only_keys(("audit",), ("strict", "sinks"))
    sinks: list[Mapping[str, str]] = []
    raw = r.get(("audit", "sinks")) or []
    if not isinstance(raw, list):
        raise r.src.error(("audit", "sinks"), "must be a list")
    for i, sink in enumerate(raw):
        path: KeyPath = ("audit", "sinks", i)
        if not isinstance(sink, Mapping) or len(sink) != 1:
            raise r.src.error(path, "each sink is one of {syslog: URL} or {file: PATH}")
        ((kind, target),) = sink.items()
        if kind not in ("syslog", "file") or not isinstance(target, str):
            raise r.src.error(path, "each sink is one of {syslog: URL} or {file: PATH}")
        if kind == "syslog" and not re.match(r"^(tcp|udp)://[^:/]+:\d+$", target):
            raise r.src.error((*path, kind), "must be tcp://HOST:PORT or udp://HOST:PORT")
        if kind == "file":
            target = str((base / target).resolve())
        sinks.append({kind: target})
    return AuditSettings(strict=r.boolean(("audit", "strict"), default=True), sinks=tuple(sinks))


def _parse_store(r: Reader) -> str | Mapping[str, str]:
    value = r.get(("store",))
    if value is None or value == "sqlite":
        return "sqlite"
    if isinstance(value, Mapping) and set(value) == {"postgres"}:
        dsn = value["postgres"]
        if isinstance(dsn, str) and dsn.startswith(("postgres://", "postgresql://")):
            return {"postgres": dsn}
    raise r.src.error(("store",), "must be `sqlite` or {postgres: postgresql://…}")


def _parse_approvals(r: Reader) -> tuple[str, float]:
    """`approvals: {webhook, expire_after}` (both optional)."""
    r.only_keys(("approvals",), ("webhook", "expire_after"))
    webhook = r.string(("approvals", "webhook"))
    if webhook and not webhook.startswith(("http://", "https://")):
        raise r.src.error(("approvals", "webhook"), "must be an http:// or https:// URL")
    expire_after = Config.approvals_expire_after
    raw = r.get(("approvals", "expire_after"))
    if raw is not None:
        try:
            expire_after = parse_duration(raw)
        except ValueError as exc:
            raise r.src.error(("approvals", "expire_after"), str(exc)) from None
        if not 1 <= expire_after <= 30 * 24 * 3600:
            raise r.src.error(("approvals", "expire_after"), "must be from 1s to 720h")
    return webhook, expire_after


def parse_config(src: Source, path: Path, on_host: Host | None = None) -> Config:
    """Validate a parsed config document.

    With ``on_host``, each local connection's account is also checked against it (it exists,
    is not root, is not the broker's own, and the broker can switch to it).

    Raises:
        ConfigError: naming file, line and key of each problem found (a ConfigErrors
            when there are several).
    """
    r = Reader(src)
    if not isinstance(src.data, Mapping):
        raise src.error((), "the config must be a mapping of top-level keys")
    with r.collecting():
        r.only_keys((), TOP_LEVEL_KEYS)
    base = path.parent
    host, port = "127.0.0.1", 2222
    with r.collecting():
        host, port = _parse_listen(r)
    users: dict[str, User] = {}
    with r.collecting():
        users = _parse_users(r)
    connections: dict[str, Connection] = {}
    with r.collecting():
        for name in r.mapping(("connections",)):
            with r.collecting():
                connections[name] = _parse_connection(r, name)
    if on_host is not None:
        for conn in connections.values():
            if conn.type == "local":
                with r.collecting():
                    check_run_as(r, ("connections", conn.name), conn.local, on_host)
    policy_files: tuple[Path, ...] = ()
    with r.collecting():
        policy_files = tuple((base / p).resolve() for p in r.strings(("policies",)))
    recording = RecordingSettings()
    with r.collecting():
        recording = _parse_recording(r)
    oidc = None
    with r.collecting():
        oidc = parse_oidc(r)
    state_dir = base / "state"
    with r.collecting():
        state_dir = base / r.string(("state_dir",), default="./state")
    audit = AuditSettings()
    with r.collecting():
        audit = _parse_audit(r, base)
    store: str | Mapping[str, str] = "sqlite"
    with r.collecting():
        store = _parse_store(r)
    limits = Limits()
    with r.collecting():
        limits = parse_limits(r)
    webhook, expire_after = "", Config.approvals_expire_after
    with r.collecting():
        webhook, expire_after = _parse_approvals(r)
    r.raise_collected()
    return Config(
        path=path,
        listen_host=host,
        listen_port=port,
        state_dir=state_dir.resolve(),
        users=users,
        connections=connections,
        policy_files=policy_files,
        recording=recording,
        audit=audit,
        store=store,
        oidc=oidc,
        limits=limits,
        approvals_webhook=webhook,
        approvals_expire_after=expire_after,
    )


def _parse_recording(r: Reader) -> RecordingSettings:
    r.only_keys(("recording",), ("retention_days", "strict", *QUOTA_KEYS))
    return RecordingSettings(
        retention_days=r.integer(("recording", "retention_days"), default=365, lo=1, hi=36500),
        strict=r.boolean(("recording", "strict"), default=True),
        quota=parse_quota(r),
    )


def load_config(path: Path, host: Host | None = None) -> Config:
    """Load and validate `gatehouse.yaml` at ``path`` (local accounts against ``host`` if given).

    Raises:
        ConfigError: naming file, line and key of the first problem.
    """
    return parse_config(load_yaml(path), path.resolve(), host)
