"""The vault: encrypted credentials only the broker can open."""

from broker.vault.secret import Secret
from broker.vault.store import Vault, create_key

__all__ = ["Secret", "Vault", "create_key"]
