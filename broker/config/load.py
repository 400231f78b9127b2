"""Loading helpers shared by the CLI commands."""

from __future__ import annotations

from pathlib import Path

from broker.common.accounts import Host
from broker.config.model import Config, load_config
from broker.policy.loader import PolicySet, load_policies


def load_all(path: Path, host: Host | None = None) -> tuple[Config, PolicySet]:
    """Load config and its policy files (raises ConfigError naming file:line).

    Local connections' accounts are checked against ``host`` (default: this host, as this
    process sees it), so `check`, `serve` and `demo` refuse what the broker would refuse.
    """
    config = load_config(path, host or Host.current())
    return config, load_policies(config.policy_files)
