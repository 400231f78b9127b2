"""Loading helpers shared by the CLI commands."""

from __future__ import annotations

from pathlib import Path

from broker.config.model import Config, load_config
from broker.policy.loader import PolicySet, load_policies


def load_all(path: Path) -> tuple[Config, PolicySet]:
    """Load config and its policy files (raises ConfigError naming file:line)."""
    config = load_config(path)
    return config, load_policies(config.policy_files)
