"""Select Graphic Rendition for the replay terminal: colours and text attributes, pure."""

from __future__ import annotations

from typing import Any

from pyte import graphics as g
from pyte.screens import Char


def sgr_changes(groups: list[list[int]], default: Char) -> dict[str, Any]:
    """The attributes an SGR changes; each parameter may carry colon sub-parameters.

    ``groups`` holds one list per parameter (``4:3`` is ``[4, 3]``, ``38:2::r:g:b`` is
    ``[38, 2, 0, r, g, b]``); ``0`` resets to ``default``. The result is what
    ``Char._replace`` takes (never ``data``).
    """
    replace: dict[str, Any] = {}
    i = 0
    while i < len(groups):
        group = groups[i]
        i += 1
        attr = group[0]
        if attr in (g.FG_256, g.BG_256):
            key = "fg" if attr == g.FG_256 else "bg"
            if len(group) > 1:  # colon form: 38:5:n, 38:2:r:g:b or 38:2:cs:r:g:b
                args = group[1:]
            else:  # semicolon form consumes the following parameters
                need = 0
                if i < len(groups):
                    need = {5: 1, 2: 3}.get(groups[i][0], 0)
                args = [grp[0] for grp in groups[i : i + 1 + need]]
                i += 1 + need
            colour = _extended_colour(args)
            if colour is not None:
                replace[key] = colour
            continue
        if attr == 4 and len(group) > 1:
            replace["underscore"] = group[1] != 0
        elif attr == 0:
            replace.update(default._asdict())
        elif attr in g.FG_ANSI:
            replace["fg"] = g.FG_ANSI[attr]
        elif attr in g.BG_ANSI:
            replace["bg"] = g.BG_ANSI[attr]
        elif attr in g.TEXT:
            name = g.TEXT[attr]
            replace[name[1:]] = name.startswith("+")
        elif attr in g.FG_AIXTERM:
            replace["fg"] = g.FG_AIXTERM[attr]
        elif attr in g.BG_AIXTERM:
            replace["bg"] = g.BG_AIXTERM[attr]
    replace.pop("data", None)
    return replace


def _extended_colour(args: list[int]) -> str | None:
    if not args:
        return None
    if args[0] == 5 and len(args) >= 2 and 0 <= args[1] <= 255:
        return str(g.FG_BG_256[args[1]])
    if args[0] == 2 and len(args) >= 4:
        rgb = args[-3:]
        if all(0 <= v <= 255 for v in rgb):
            return "{:02x}{:02x}{:02x}".format(*rgb)
    return None
