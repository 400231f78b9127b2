"""The ``gatehouse keys`` commands: list and revoke SSH keys enrolled through the IdP."""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from datetime import UTC, datetime

from broker.common.errors import GatehouseError
from broker.common.text import escape_controls
from broker.config.model import Config
from broker.identity.enrolment import Enrolment, EnrolmentStore


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``keys list|revoke`` on ``sub``."""
    keys = sub.add_parser(
        "keys", help="SSH keys enrolled after a sign-in with the identity provider"
    ).add_subparsers(dest="keys_command", required=True)
    listing = keys.add_parser("list", help="show enrolled keys: id, user, key, IdP subject, expiry")
    listing.add_argument("--all", action="store_true", help="include expired enrolments")
    listing.set_defaults(func=_list)
    revoke = keys.add_parser(
        "revoke",
        help="revoke enrolments by id, user or key fingerprint (the next login signs in again)",
    )
    revoke.add_argument("key", metavar="ID|USER|FINGERPRINT")
    revoke.set_defaults(func=_revoke)


def _config(args: argparse.Namespace) -> Config:
    config: Config | None = getattr(args, "config_obj", None)
    if config is None:
        raise GatehouseError(f"no config file at {getattr(args, 'config_looked', '?')}")
    return config


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _line(record: Enrolment, now: float) -> str:
    state = "expired" if record.expires_at <= now else f"until {_when(record.expires_at)}"
    groups = ",".join(record.groups) or "-"
    return escape_controls(
        f"{record.id}\t{record.user}\t{record.fingerprint}\t{record.subject}\t{groups}\t{state}"
    )


def _list(args: argparse.Namespace) -> int:
    now = time.time()
    records = EnrolmentStore(_config(args).state_dir).all()
    shown = [r for r in records if args.all or r.expires_at > now]
    for record in sorted(shown, key=lambda r: (r.user, r.enrolled_at)):
        print(_line(record, now))
    if not shown:
        print("no enrolled keys", file=sys.stderr)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    config = _config(args)
    from broker.auditchain.events import Action
    from broker.auditlog.events import record_cli_event
    from broker.config.state import StatePaths

    gone = EnrolmentStore(config.state_dir).remove(args.key)
    if not gone:
        raise GatehouseError(f"no enrolled key matches {args.key!r}")
    vault_dir = StatePaths(config.state_dir).vault().directory
    for record in gone:
        (vault_dir / f"{record.vault_name}.secret").unlink(missing_ok=True)
        record_cli_event(
            config,
            getpass.getuser(),
            Action.KEY_REVOKED,
            "gatehouse",
            {
                "idp_issuer": record.issuer,
                "idp_subject": record.subject,
                "user": record.user,
                "key_fingerprint": record.fingerprint,
                "enrolment": record.id,
                "reason": "revoked",
            },
        )
        print(f"revoked {_line(record, time.time())}")
    return 0
