"""The `gatehouse` command: init, serve, check, secret, demo (audit, evidence, recordings, keys plug in)."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from broker.common.errors import ConfigError, GatehouseError, RecordingError
from broker.common.text import EscapingFormatter, escape_controls
from broker.config.load import load_all
from broker.config.model import load_config
from broker.config.state import StatePaths
from broker.runtime.provision import ensure_keys, init_state

log = logging.getLogger("gatehouse")
DEFAULT_CONFIG = "gatehouse.yaml"
# Sub-command modules that register themselves: (module, function).
PLUGINS = (
    ("broker.auditlog.cli", "add_commands"),
    ("broker.recording.cli", "add_commands"),
    ("broker.identity.cli", "add_commands"),
    ("tui.cli", "add_commands"),  # after recordings: it gives `recordings play` its player
)


CONFIG_HELP = f"config file (default: $GATEHOUSE_CONFIG, else ./{DEFAULT_CONFIG})"


class _SubCommands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Sub-commands whose ``--help`` opens with the one-line help they are listed with."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if "help" in kwargs and "description" not in kwargs:
            kwargs["description"] = kwargs["help"]
        return cast(argparse.ArgumentParser, super().add_parser(name, **kwargs))


class CommandParser(argparse.ArgumentParser):
    """A parser whose every command and sub-command shows ``-c FILE`` in its ``--help``.

    ``-c`` is taken from anywhere on the line by :func:`main` before parsing, so each
    sub-command lists it (for the reader) without having to declare it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("-c", "--config", metavar="FILE", help=CONFIG_HELP)

    def add_subparsers(self, **kwargs: Any) -> _SubCommands:
        kwargs.setdefault("parser_class", CommandParser)
        kwargs.setdefault("action", _SubCommands)
        return cast(_SubCommands, super().add_subparsers(**kwargs))


def _config_path(args: argparse.Namespace) -> Path:
    return Path(args.config or os.environ.get("GATEHOUSE_CONFIG") or DEFAULT_CONFIG)


def cmd_init(args: argparse.Namespace) -> int:
    config = init_state(Path(args.dir))
    print(f"created {config}")
    print(f"next: add users to it, then `gatehouse serve -c {config}`")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    config, policies = load_all(_config_path(args))
    from broker.masking.filter import load_masking_policy

    masking = load_masking_policy(policies)
    print(
        f"ok: {config.path}: {len(config.users)} users, {len(config.connections)} connections, "
        f"{len(policies.access)} access rules, {len(policies.commands)} command rules, "
        f"{len(masking.detectors)} masking detectors"
    )
    if config.oidc is None:
        from broker.common.yamlsrc import load_yaml
        from broker.config.lint import unheld_groups

        sources = [load_yaml(path) for path in config.policy_files]
        for warning in unheld_groups(config.users, sources):
            print(f"warning: {escape_controls(warning.render())}", file=sys.stderr)
    for conn in config.connections.values():
        if conn.local.unsafe_run_as_broker_user:
            print(
                f"warning: UNSAFE: local connection {conn.name!r} runs as the broker's own "
                "account and can read its keys (unsafe_run_as_broker_user; a demo only)",
                file=sys.stderr,
            )
    origin = policies.roles_source.file if policies.roles_source else "defaults"
    print(f"roles ({escape_controls(origin)}):")
    for line in policies.roles.describe().splitlines():
        print(f"  {line}")
    return 0


def use_system_malloc() -> None:
    """Re-run this command with ``PYTHONMALLOC=malloc`` (once; an explicit setting wins).

    A broker serves sessions that come and go; with CPython's small-object allocator the
    memory of closed TUI sessions stayed pinned in partly used arenas (+180 MiB after 100
    sessions closed). On the system allocator, `malloc_trim` after the idle collection
    gives it back (+17 to +32 MiB). See docs/decisions/007-system-allocator.md.
    """
    if "PYTHONMALLOC" in os.environ:
        return
    env = {**os.environ, "PYTHONMALLOC": "malloc"}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "broker.cli", *sys.argv[1:]], env)  # noqa: S606


def _workers(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 64, not {text!r}")
    return count


def cmd_serve(args: argparse.Namespace) -> int:
    from broker.runtime.app import serve

    config, policies = load_all(_config_path(args))
    use_system_malloc()
    if args.worker is None and args.workers > 1:
        from broker.runtime.workers import supervise

        port = config.listen_port if args.port is None else args.port
        return supervise(config.path, config.listen_host, port, args.workers)
    if args.worker is not None:
        for handler in logging.getLogger().handlers:
            handler.setFormatter(
                EscapingFormatter(
                    f"%(asctime)s %(levelname)s [worker {args.worker}] %(name)s: %(message)s"
                )
            )
    return serve(config, policies, port=args.port, worker=args.worker)


def cmd_secret_set(args: argparse.Namespace) -> int:
    config = load_config(_config_path(args))
    conn = config.connections.get(args.connection)
    if conn is None:
        raise GatehouseError(f"unknown connection {args.connection!r} in {config.path}")
    if not conn.credential:
        raise GatehouseError(f"connection {conn.name!r} has no `credential` key")
    if sys.stdin.isatty():
        value = getpass.getpass(f"credential for {conn.name} (password): ").encode()
    else:
        value = sys.stdin.buffer.read(64 * 1024 + 1)
    paths = StatePaths(config.state_dir)
    ensure_keys(paths)
    paths.vault().set(conn.credential, value)
    del value
    from broker.auditchain.events import Action
    from broker.auditlog.events import record_cli_event

    record_cli_event(
        config, getpass.getuser(), Action.SECRET_SET, conn.name, {"credential": conn.credential}
    )
    print(f"stored credential {conn.credential!r} for connection {conn.name!r}", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from broker.runtime.demo import run_demo

    use_system_malloc()
    status: int = run_demo(Path(args.dir), port=args.port)
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="gatehouse",
        description="Gatehouse privileged-access broker.",
        epilog="`gatehouse COMMAND --help` describes each command; -c FILE works with all of them.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help_: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add("init", cmd_init, "create a config file and state dir (keys, vault) in DIR")
    p.add_argument("dir")
    p = add("serve", cmd_serve, "run the broker")
    p.add_argument("--port", type=int, default=None, help="override the listen port")
    p.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="broker processes sharing the port, one core each (default 1)",
    )
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    p = add("check", cmd_check, "validate config and policies, reporting every error found")
    p.set_defaults(needs_state=False)  # check loads everything itself, past the first error
    p = add("demo", cmd_demo, "serve a self-contained demo on 127.0.0.1:2222")
    p.add_argument("--dir", default="demo-state", help="demo state dir (default ./demo-state)")
    p.add_argument("--port", type=int, default=2222)
    secret = sub.add_parser("secret", help="manage credentials in the vault (write-only)")
    secret_sub = secret.add_subparsers(dest="secret_command", required=True, metavar="ACTION")
    p = secret_sub.add_parser("set", help="store CONNECTION's credential, read from stdin")
    p.add_argument("connection")
    p.set_defaults(func=cmd_secret_set)
    for module_name, attr in PLUGINS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        getattr(module, attr)(sub)
    return parser


def _resolve_state(args: argparse.Namespace) -> None:
    """Give plugin commands `args.state_dir` and `args.config_obj` from the config file."""
    if not hasattr(args, "config"):
        args.config = None
    if getattr(args, "needs_state", True) and args.func not in (cmd_init, cmd_demo):
        path = _config_path(args)
        args.config_looked = path
        if path.exists():
            config = load_config(path)
            args.config_obj = config
            args.state_dir = config.state_dir


def main(argv: Sequence[str] | None = None) -> int:
    # `-c FILE` is accepted anywhere on the line, for every command.
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("-c", "--config")
    known, rest = pre.parse_known_args(argv)
    parser = build_parser()
    args = parser.parse_args(rest)
    args.config = known.config
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler])
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    # state, exports and copies the command writes are the owner's alone (restored after,
    # for callers that run commands in their own process)
    umask = os.umask(0o077)
    try:
        _resolve_state(args)
        code: int = args.func(args)
    except ConfigError as exc:
        print("gatehouse: invalid configuration:", file=sys.stderr)
        for error in exc.all():
            print(f"  {escape_controls(error.render())}", file=sys.stderr)
        return 2
    except (GatehouseError, RecordingError) as exc:
        print(f"gatehouse: {escape_controls(str(exc))}", file=sys.stderr)
        return 1
    except FileExistsError as exc:
        print(f"gatehouse: {escape_controls(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        os.umask(umask)
    return code


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
