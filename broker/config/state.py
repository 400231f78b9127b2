"""The state directory: where keys, vault, audit log and recordings live, and how to create it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from broker.vault import Vault

POLICY_SOURCE = Path(__file__).resolve().parents[2] / "policies"


@dataclass(frozen=True)
class StatePaths:
    """Well-known paths inside a state directory."""

    root: Path

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def host_key(self) -> Path:
        return self.keys / "ssh_host_ed25519"

    @property
    def vault_key(self) -> Path:
        return self.keys / "vault.key"

    @property
    def audit_key(self) -> Path:
        return self.keys / "audit_ed25519"

    @property
    def masking_key(self) -> Path:
        return self.keys / "masking.key"

    @property
    def vault_dir(self) -> Path:
        return self.root / "vault"

    @property
    def audit_dir(self) -> Path:
        return self.root / "audit"

    @property
    def recordings_dir(self) -> Path:
        return self.root / "recordings"

    def vault(self) -> Vault:
        return Vault(self.vault_dir, self.vault_key)
