"""A patch of a dependency's private code, applied only while the patched source is unchanged."""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


def source_fingerprint(targets: Sequence[object]) -> str:
    """SHA-256 over the source of each of ``targets`` (decorators unwrapped), in order.

    Raises:
        OSError, TypeError: a target's source cannot be read.
    """
    digest = hashlib.sha256(b"gatehouse-patch-fingerprint\0")
    for target in targets:
        source = inspect.getsource(inspect.unwrap(target))  # type: ignore[arg-type]
        digest.update(source.encode())
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass
class Patch:
    """One change to a dependency's private code, gated on a fingerprint of what it relies on."""

    name: str
    """Shown in the log line, e.g. ``textual.app redirect_stdout``."""
    fingerprint: str
    """The :func:`source_fingerprint` of ``targets`` the patch was written against."""
    targets: Callable[[], Sequence[object]]
    """The functions and classes whose source the patch relies on (read when applied)."""
    install: Callable[[], None]
    """Makes the change; called at most once, and only when the fingerprint matches."""
    active: bool | None = field(default=None, init=False)
    """None until :meth:`apply` ran; then whether the patch is installed."""

    def current(self) -> str:
        """The fingerprint of the installed source ("" when it cannot be read)."""
        try:
            return source_fingerprint(self.targets())
        except (OSError, TypeError):
            return ""

    def apply(self) -> bool:
        """Install the patch if the source is the one it was written for; log the outcome once."""
        if self.active is not None:
            return self.active
        found = self.current()
        self.active = found == self.fingerprint
        if self.active:
            self.install()
            log.info("patch %s: active", self.name)
        else:
            log.warning(
                "patch %s: NOT active: the patched source changed (fingerprint %s, written "
                "for %s); see tui/patches/",
                self.name,
                found[:12] or "unreadable",
                self.fingerprint[:12],
            )
        return self.active
