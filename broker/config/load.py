"""Loading helpers shared by the CLI commands."""

from __future__ import annotations

from pathlib import Path

from broker.common.accounts import Host
from broker.common.errors import ConfigError, ConfigErrors
from broker.common.yamlsrc import Reader, load_yaml
from broker.config.model import Config, load_config
from broker.policy.loader import PolicySet, load_policies


def load_all(path: Path, host: Host | None = None) -> tuple[Config, PolicySet]:
    """Load config and its policy files.

    Every problem found in the config and in every policy file is raised at once, each as
    ``file:line: key: message`` (a ConfigErrors when there are several).

    Local connections' accounts are checked against ``host`` (default: this host, as this
    process sees it), so `check`, `serve` and `demo` refuse what the broker would refuse.
    """
    errors: list[ConfigError] = []
    config: Config | None = None
    try:
        config = load_config(path, host or Host.current())
        policy_files = config.policy_files
    except ConfigError as exc:
        errors.extend(exc.all())
        policy_files = _policy_files(path)
    try:
        policies = load_policies(policy_files)
    except ConfigError as exc:
        errors.extend(exc.all())
    if errors or config is None:
        raise ConfigErrors(errors)
    return config, policies


def _policy_files(path: Path) -> tuple[Path, ...]:
    """The policy files a config names, read past its other errors (none if unreadable)."""
    try:
        src = load_yaml(path)
        return tuple(
            (path.resolve().parent / p).resolve() for p in Reader(src).strings(("policies",))
        )
    except ConfigError:
        return ()
