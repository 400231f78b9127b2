"""Upstreams: the connections the broker opens to targets (SSH, local commands)."""
