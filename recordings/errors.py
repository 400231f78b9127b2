"""The recordings library's own errors (the broker re-exports them; this library imports nothing of it)."""

from __future__ import annotations


class RecordingError(Exception):
    """A recording cannot be written, read or parsed (the message says which file and why)."""
