"""Quarantined patches of dependencies' private code, each gated on the source it patches."""
