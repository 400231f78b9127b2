"""The current result of a SQL console: its pages read, masked and recorded, and its end."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

from broker.common.errors import RecordingError
from broker.masking.engine import MaskingEngine
from broker.masking.sqlcells import mask_page, rule_names, shown_names
from broker.session.ports import Recording
from broker.session.sqlresult import Current, Page, affected
from broker.sql import transcript
from broker.upstream.postgres import Outcome, Row

PAGE_ROWS = 200
"""Rows read per window (a screen is 20 to 60 rows)."""


class ResultPages:
    """Pages of the console's current result (a scroll cursor or the rows kept).

    :class:`~broker.session.sqlconsole.SqlConsole` derives from it and sets the attributes
    below in its ``__init__``.
    """

    engine: MaskingEngine | None
    recorder: Recording | None
    page_rows: int
    _current: Current | None
    _lock: asyncio.Lock

    # -- pages -----------------------------------------------------------------

    async def page(self, start: int) -> Page | None:
        """The masked rows from ``start`` of the current result (None: there is none).

        Raises:
            SqlError: the server failed while producing them.
        """
        async with self._lock:
            current = self._current
            if current is None or not current.columns:
                return None
            return await self._page(current, max(0, start))

    async def count(self) -> int | None:
        """Count the current result's rows on the server (None: there is none)."""
        async with self._lock:
            current = self._current
            if current is None:
                return None
            if current.cursor is not None:
                current.total = await current.cursor.count()
            return current.total

    async def _page(self, current: Current, start: int) -> Page:
        if current.cursor is not None:
            raw = await current.cursor.rows(start, self.page_rows)
            current.total = current.cursor.total
        else:
            raw = current.kept[start : start + self.page_rows]
        names = rule_names(self.engine, current.statement.text, current.columns)
        rows, counts = self._mask(names, raw)
        number = start // self.page_rows
        current.furthest = max(current.furthest, start + len(rows))
        if number not in current.seen:
            current.seen.add(number)
            current.masked.update(counts)
            if rows:
                self._record(
                    transcript.page(shown_names(self.engine, current.columns), start, rows)
                )
                await self._drain()
        marks = [
            tuple(a != b for a, b in zip(r, m, strict=True)) for r, m in zip(raw, rows, strict=True)
        ]
        return Page(start, rows, marks)

    def _mask(self, columns: Sequence[str], rows: list[Row]) -> tuple[list[Row], Counter[str]]:
        if self.engine is None or not rows:
            return list(rows), Counter()
        return mask_page(self.engine, columns, rows)

    async def _end_current(self) -> None:
        """Close the current result: its cursor (and transaction) and its audit report."""
        current, self._current = self._current, None
        if current is None:
            return
        if current.cursor is not None:
            await current.cursor.close()
            rows = current.furthest
            outcome = Outcome(f"SELECT {rows}", rows, current.columns)
        else:
            rows = current.total if current.total is not None else affected(current.status)
            outcome = Outcome(current.status, rows, current.columns)
        await current.report(current.elapsed, outcome, current.masked, "", rows)

    def _record(self, text: str) -> None:
        if self.recorder is not None:
            if self.recorder.error:
                raise RecordingError(self.recorder.error)
            self.recorder.feed(text.encode(), False)

    async def _drain(self) -> None:
        """Wait while the recorder is behind: pages are never read faster than recorded."""
        if self.recorder is not None and self.recorder.congested:
            await self.recorder.drain()
