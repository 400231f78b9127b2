"""Strips cut or extended to their own length are freed by reference counting (patch)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator

import pytest
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from tui.patches import apply_textual_patches


@pytest.fixture
def garbage() -> Iterator[Callable[[], list[object]]]:
    """Returns the objects a full collection would free since the fixture started."""
    apply_textual_patches()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)

    def collected() -> list[object]:
        gc.collect()
        found = list(gc.garbage)
        gc.garbage.clear()
        return found

    try:
        yield collected
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def strip(probe: str = "probe") -> Strip:
    return Strip([Segment(f"{probe}@example.com", Style(bold=True)), Segment(" │ ")])


@pytest.mark.parametrize(
    "use",
    [
        lambda s: s.divide([s.cell_length]),
        lambda s: s.divide([s.cell_length, s.cell_length + 5]),
        lambda s: s.crop_extend(0, s.cell_length, None),
        lambda s: s.crop_extend(-3, s.cell_length, Style()),
        lambda s: s.divide([4, s.cell_length]),
        lambda s: s.crop_extend(2, s.cell_length + 4, None),
    ],
)
def test_a_strip_leaves_no_cycle(
    garbage: Callable[[], list[object]], use: Callable[[Strip], object]
) -> None:
    probe = f"probe{id(use)}"
    for _ in range(50):
        s = strip(probe)
        use(s)
        use(s)  # from the cache, if cached
        del s
    assert not [o for o in garbage() if isinstance(o, Strip) and f"{probe}@" in o.text]


def test_the_results_are_the_unpatched_ones() -> None:
    apply_textual_patches()
    s = strip()
    length = s.cell_length
    assert s.divide([length]) == [s]
    assert s.crop_extend(0, length, None) is s
    cut = s.divide([4, length])
    assert [x.text for x in cut] == ["prob", "e@example.com │ "]
    assert s.divide([4, length]) is cut  # cached as before
    wider = s.crop_extend(0, length + 2, None)
    assert wider.text == s.text + "  "
    assert s.crop_extend(1, length, None).text == s.text[1:]
