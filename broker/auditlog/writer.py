"""The broker's audit log: one writer task batches appends and acknowledges them once fsynced."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from broker.auditchain.events import Action
from broker.auditchain.record import AuditRecord, checked_details
from broker.auditchain.signing import Signer
from broker.auditlog.journal import DEFAULT_SEGMENT_BYTES, DescriptorsExhausted, Item, Journal
from broker.auditlog.sinks import Sink, SinkDispatcher
from broker.common.errors import AuditWriteError

log = logging.getLogger(__name__)

MAX_BATCH = 4096
DESCRIPTOR_RETRY = 0.05
"""First pause (seconds, doubling to 1 s) before a batch is retried for want of a descriptor."""
LOG_EVERY = 10.0


@dataclass(slots=True)
class _Pending:
    item: Item
    done: asyncio.Future[AuditRecord] = field(default_factory=asyncio.Future)


class AuditLog:
    """The append-only, signed, hash-chained audit log of one broker.

    Open it with :meth:`open`; :meth:`append` returns once the record is on disk. When a write
    fails the log turns unhealthy for good: every pending and later append raises
    :class:`AuditWriteError`, and :meth:`wait_failed` wakes, so the broker can refuse new
    sessions and end running ones (strict mode).
    """

    def __init__(self, journal: Journal, dispatcher: SinkDispatcher, signer: Signer) -> None:
        """Use :meth:`open` instead."""
        self._journal = journal
        self._dispatcher = dispatcher
        self._signer = signer
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._failure: AuditWriteError | None = None
        self._failed = asyncio.Event()
        self._closing = False
        self._listeners: list[Callable[[AuditRecord], None]] = []
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    @classmethod
    async def open(
        cls,
        directory: Path,
        signing_key: Ed25519PrivateKey,
        sinks: Sequence[Sink] = (),
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 60.0,
        trusted_keys: Sequence[Ed25519PublicKey] = (),
        startup_details: dict[str, Any] | None = None,
    ) -> Self:
        """Open (or create) the log in ``directory``, verify its tail and record the start.

        Appends ``broker.restart`` when the log already held records (with the previous seq and
        hash and anything repaired), else ``broker.start``.

        Args:
            directory: The audit directory, ``<state_dir>/audit``.
            signing_key: The Ed25519 audit signing key.
            sinks: Where copies of records and checkpoints go.
            segment_bytes: Rotate to a new segment file beyond this size.
            checkpoint_every: Write a signed checkpoint after this many records...
            checkpoint_interval: ...or this many seconds after an uncovered record.
            trusted_keys: Earlier (rotated) public keys whose records may be in the tail.
            startup_details: Extra facts for the start record (e.g. version, config hash).

        Raises:
            AuditVerificationError: The tail does not verify; the broker must not start.
            AuditWriteError: The directory cannot be written.
        """
        signer = Signer(signing_key)
        dispatcher = SinkDispatcher(sinks)
        journal = Journal(
            directory,
            signer,
            dispatcher,
            segment_bytes=segment_bytes,
            checkpoint_every=checkpoint_every,
            checkpoint_interval=checkpoint_interval,
            trusted_keys=trusted_keys,
        )
        try:
            facts = await asyncio.to_thread(journal.recover)
        except BaseException:
            journal.close()
            dispatcher.close()
            raise
        self = cls(journal, dispatcher, signer)
        action = Action.BROKER_RESTART if facts["previous_seq"] else Action.BROKER_START
        await self.append("broker", action, "audit", {**facts, **(startup_details or {})})
        return self

    @property
    def healthy(self) -> bool:
        """False once a write failed (or after close)."""
        return self._failure is None and not self._closing

    @property
    def failure(self) -> AuditWriteError | None:
        """The write error that made the log unhealthy, if any."""
        return self._failure

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The public key that verifies this log's records."""
        return self._signer.public_key

    @property
    def key_id(self) -> str:
        """Id of the signing key."""
        return self._signer.key_id

    @property
    def directory(self) -> Path:
        """The audit directory."""
        return self._journal.directory

    async def wait_failed(self) -> AuditWriteError:
        """Wait until a write fails, and return that error."""
        await self._failed.wait()
        assert self._failure is not None
        return self._failure

    def add_listener(self, listener: Callable[[AuditRecord], None]) -> Callable[[], None]:
        """Call ``listener`` (on the loop) with each record once it is durable.

        Returns:
            A function that removes the listener.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def append(
        self, actor: str, action: Action, target: str, details: dict[str, Any] | None = None
    ) -> AuditRecord:
        """Append a record and return it once it is fsynced.

        Args:
            actor: Who acted.
            action: The event kind (an :class:`Action`).
            target: What was acted on.
            details: Event facts; never a secret or an unmasked value.

        Raises:
            ValueError: A field cannot be recorded (wrong type, not JSON-encodable).
            AuditWriteError: The log is closed or failed to write.
        """
        clean = checked_details(actor, action, target, {} if details is None else details)
        if self._failure is not None:
            raise self._failure
        if self._closing:
            raise AuditWriteError("the audit log is closed")
        pending = _Pending((actor, str(action), target, clean))
        self._queue.put_nowait(pending)
        return await asyncio.shield(pending.done)

    async def close(self) -> None:
        """Write what is queued, checkpoint, and close."""
        if self._closing:
            return
        self._closing = True
        self._queue.put_nowait(None)
        with contextlib.suppress(Exception):
            await self._task
        try:
            await asyncio.to_thread(self._journal.close, checkpoint=self._failure is None)
        finally:
            await asyncio.to_thread(self._dispatcher.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _run(self) -> None:
        stop = False
        while not stop:
            due = self._journal.checkpoint_due_in()
            try:
                async with asyncio.timeout(due):
                    first = await self._queue.get()
            except TimeoutError:
                await self._guarded(self._journal.checkpoint)
                continue
            batch: list[_Pending] = []
            for pending in self._take(first):
                if pending is None:
                    stop = True
                else:
                    batch.append(pending)
            if batch and not await self._write(batch):
                return

    def _take(self, first: _Pending | None) -> list[_Pending | None]:
        taken = [first]
        while len(taken) < MAX_BATCH and not self._queue.empty():
            taken.append(self._queue.get_nowait())
        return taken

    async def _write(self, batch: list[_Pending]) -> bool:
        items = [pending.item for pending in batch]
        delay, waited, logged = DESCRIPTOR_RETRY, 0.0, -LOG_EVERY
        while True:
            try:
                records = await asyncio.to_thread(self._journal.write_batch, items)
                break
            except DescriptorsExhausted as exc:
                # Descriptor pressure is not a lost audit log: the records wait (and so do
                # their sessions), nothing is sealed twice, and the batch is written once
                # descriptors are free again. Strict mode ends nothing for it.
                if waited - logged >= LOG_EVERY:
                    logged = waited
                    log.warning(
                        "audit batch of %d waits for a free descriptor (%.0fs so far): %s",
                        len(items),
                        waited,
                        exc.strerror,
                    )
                await asyncio.sleep(delay)
                waited += delay
                delay = min(delay * 2, 1.0)
            except Exception as exc:
                self._fail(exc, batch)
                return False
        for pending, record in zip(batch, records, strict=True):
            if not pending.done.done():
                pending.done.set_result(record)
        for record in records:
            for listener in list(self._listeners):
                try:
                    listener(record)
                except Exception:
                    log.exception("audit listener failed")
        return True

    async def _guarded(self, action: Callable[[], None]) -> None:
        try:
            await asyncio.to_thread(action)
        except Exception as exc:
            self._fail(exc, [])

    def _fail(self, exc: Exception, batch: list[_Pending]) -> None:
        if self._failure is None:
            log.error("audit log write failed; the log is now unhealthy: %s", exc)
            self._failure = AuditWriteError(f"audit log write failed: {exc}")
            self._failure.__cause__ = exc
            self._failed.set()
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if pending is not None:
                batch.append(pending)
        for pending in batch:
            if not pending.done.done():
                pending.done.set_exception(self._failure)


def append_sync(
    directory: Path,
    signing_key: Ed25519PrivateKey,
    actor: str,
    action: Action,
    target: str,
    details: dict[str, Any] | None = None,
    *,
    sinks: Sequence[Sink] = (),
    trusted_keys: Sequence[Ed25519PublicKey] = (),
) -> AuditRecord:
    """Append one record from a short-lived command (e.g. ``gatehouse secret set``) and return it.

    Safe while a broker writes the same log: the journal lock orders the two writers.

    Raises:
        ValueError: A field cannot be recorded.
        AuditWriteError: The log cannot be written, or its last record does not verify.
    """
    clean = checked_details(actor, action, target, {} if details is None else details)
    signer = Signer(signing_key)
    dispatcher = SinkDispatcher(sinks)
    try:
        journal = Journal(directory, signer, dispatcher, trusted_keys=trusted_keys)
        try:
            journal.recover(full=False)
            (record,) = journal.write_batch([(actor, str(action), target, clean)])
        finally:
            journal.close()
    except OSError as exc:
        raise AuditWriteError(f"audit log write failed: {exc}") from exc
    finally:
        dispatcher.close()
    return record
