"""A QR code as text: two modules per character cell with half-block characters (pure, segno)."""

from __future__ import annotations

import segno

QUIET = 2


def qr_lines(data: str) -> list[str]:
    """Draw ``data`` as a QR code, dark modules as dark cells on a light background.

    Each character covers two rows of modules (``▀``, ``▄``, ``█`` or space), drawn light on a
    dark terminal: the lines use light blocks for light modules so the code reads either way.
    The smallest version that holds ``data`` is taken (error level L, raised by segno to the
    highest level that version still holds): a verification URL of ~50 characters is then 17
    lines, which fits an 80x24 terminal with the URL, the code and the status around it.
    """
    code = segno.make(data, error="l", boost_error=True, micro=False)
    size = int(code.symbol_size(border=QUIET)[0])
    rows = [[bool(v) for v in row] for row in code.matrix_iter(border=QUIET)]
    if len(rows) % 2:
        rows.append([False] * size)
    glyphs = {(False, False): "█", (True, False): "▄", (False, True): "▀", (True, True): " "}
    return [
        "".join(glyphs[(top, bottom)] for top, bottom in zip(rows[i], rows[i + 1], strict=True))
        for i in range(0, len(rows), 2)
    ]
