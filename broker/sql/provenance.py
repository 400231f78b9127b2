"""Which result columns carry a column that a column-name masking rule protects. Pure.

A column-name rule (``masking.columns``) matches the names of a result's columns. A user can
rename a column: ``SELECT diagnosis AS x``, ``SELECT diagnosis || ''`` (named ``?column?``),
``SELECT upper(diagnosis)``, a subquery or CTE that renames it, a UNION whose first branch names
the column after something else. :func:`source_names` follows such names through the statement's
parse tree (pglast) and gives, for each result column, the name the rules should look at: its
own, or the protected column its values come from. It over-approximates (a name derived from a
protected column anywhere in the statement is masked wherever it appears); it does not see what
a function or a view computes. A whole-row value (``row_to_json(t)``, ``SELECT t FROM t``,
``to_jsonb(t.*)``) shows a row's values without their names and the parse tree cannot say
which columns the row has, so a result column that reads one is named :data:`WHOLE_ROW`: fail
closed, the caller masks it whole (``SELECT t.*`` as a target is expanded by the server into
named columns and is not one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from pglast import parse_sql
from pglast.parser import ParseError
from pglast.visitors import Visitor

Protected = Callable[[str], bool]
"""Whether a column name is one a column-name rule matches."""
WHOLE_ROW = "\x00whole-row"
"""The source name of a result column that reads a whole row of a table or subquery."""
_MAX_ROUNDS = 32
"""Renames followed through at most this many levels of nesting."""


def source_names(sql: str, names: Sequence[str], protected: Protected) -> tuple[str, ...]:
    """For each of the result's column ``names``, the name column-name rules should match:
    its own, or the protected column it was derived from in ``sql``."""
    if all(protected(n) for n in names):
        return tuple(names)
    derived = _derived(sql, protected)
    return tuple(n if protected(n) else derived.get(n, n) for n in names)


def _is_protected(protected: Protected) -> Protected:
    return lambda name: name == WHOLE_ROW or protected(name)


def _derived(sql: str, protected: Protected) -> dict[str, str]:
    """Names in ``sql`` whose values come from a protected column → that column's name."""
    try:
        raws = parse_sql(sql)
    except (ParseError, RecursionError, ValueError):
        return {}
    nodes = _Nodes()
    for raw in raws:
        if raw.stmt is not None:
            nodes(raw.stmt)
    protected = _is_protected(protected)
    rows = frozenset(nodes.ranges)
    derived: dict[str, str] = {}
    for _ in range(_MAX_ROUNDS):
        before = len(derived)
        for branches in nodes.outputs:
            for i, names in enumerate(_figures(branches[0])):
                source = next(
                    (
                        s
                        for b in branches
                        if i < len(b)
                        for s in _sources(b[i].val, protected, derived, rows)
                    ),
                    "",
                )
                if source:
                    derived.update((n, source) for n in names if not protected(n))
        for query, colnames in nodes.renamed:
            for i, names in enumerate(_figures(_first_branch(query))):
                source = next((n if protected(n) else derived.get(n, "") for n in names), "")
                if i < len(colnames) and source and not protected(colnames[i]):
                    derived.setdefault(colnames[i], source)
        if len(derived) == before:
            break
    return derived


class _Nodes(Visitor):
    """Every target list (set operations as their branches) and every renamed subquery."""

    def __init__(self) -> None:
        super().__init__()
        self.outputs: list[list[tuple[Any, ...]]] = []
        """Per query: its branches' target lists (one, or one per UNION/INTERSECT branch)."""
        self.renamed: list[tuple[Any, list[str]]] = []
        """Subqueries and CTEs with column aliases: the query, the aliases."""
        self.ranges: set[str] = set()
        """Names a whole row can be referred to by: tables, their aliases, subqueries, CTEs."""

    def visit(self, ancestors: Any, node: Any) -> None:
        name = type(node).__name__
        if name == "SelectStmt":
            branches = list(_branches(node))
            if branches and node.targetList is None:  # a set operation: its branches line up
                self.outputs.append(branches)
            elif node.targetList:
                self.outputs.append([tuple(node.targetList)])
        elif name == "ReturningClause" and node.exprs:
            self.outputs.append([tuple(node.exprs)])
        elif name == "RangeVar":
            self.ranges.add(str(node.relname))
            if node.alias is not None:
                self.ranges.add(str(node.alias.aliasname))
        elif name in ("RangeSubselect", "RangeFunction") and node.alias is not None:
            self.ranges.add(str(node.alias.aliasname))
        if name == "RangeSubselect" and node.alias is not None and node.alias.colnames:
            self.renamed.append((node.subquery, [c.sval for c in node.alias.colnames]))
        elif name == "CommonTableExpr":
            self.ranges.add(str(node.ctename))
            if node.aliascolnames:
                self.renamed.append((node.ctequery, [c.sval for c in node.aliascolnames]))


def _branches(select: Any) -> Iterator[tuple[Any, ...]]:
    if getattr(select, "larg", None) is not None:
        yield from _branches(select.larg)
        yield from _branches(select.rarg)
    elif getattr(select, "targetList", None):
        yield tuple(select.targetList)


def _first_branch(query: Any) -> tuple[Any, ...]:
    return next(iter(_branches(query)), ())


def _sources(
    expr: Any, protected: Protected, derived: dict[str, str], rows: frozenset[str]
) -> Iterator[str]:
    """The protected columns ``expr`` reads (directly, or through a derived name); a whole
    row as :data:`WHOLE_ROW`."""
    if _star(expr):
        return  # ``SELECT t.*``: expanded into named columns by the server
    refs = _Refs(rows)
    refs(expr)
    if refs.whole_row:
        yield WHOLE_ROW
    for name in refs.names:
        if protected(name):
            yield name
        elif name in derived:
            yield derived[name]


def _star(expr: Any) -> bool:
    if type(expr).__name__ != "ColumnRef" or not expr.fields:
        return False
    return type(expr.fields[-1]).__name__ == "A_Star"


class _Refs(Visitor):
    def __init__(self, rows: frozenset[str]) -> None:
        super().__init__()
        self.rows = rows
        self.names: list[str] = []
        self.whole_row = False

    def visit_ColumnRef(self, ancestors: Any, node: Any) -> None:
        fields = node.fields or ()
        last = fields[-1] if fields else None
        if _star(node) or (len(fields) == 1 and str(getattr(last, "sval", "")) in self.rows):
            self.whole_row = True  # ``f(t.*)``, ``SELECT t``: a row's values, unnamed
        if last is not None and hasattr(last, "sval"):
            self.names.append(str(last.sval))


def _figures(targets: Sequence[Any]) -> list[tuple[str, ...]]:
    """Each target's possible result names: its alias, or what PostgreSQL would call it."""
    return [(t.name,) if t.name else _figure(t.val) for t in targets]


def _figure(expr: Any) -> tuple[str, ...]:
    """PostgreSQL's name for an unnamed result column (FigureColname), or ``?column?``."""
    found = _named(expr)
    return (found,) if found else ("?column?",)


@lru_cache(maxsize=1)
def _plain() -> dict[str, str]:
    return {
        "CaseExpr": "case",
        "A_ArrayExpr": "array",
        "RowExpr": "row",
        "CoalesceExpr": "coalesce",
        "XmlExpr": "xmlelement",
    }


def _named(expr: Any) -> str:
    name = type(expr).__name__
    if name == "ColumnRef":
        last = expr.fields[-1] if expr.fields else None
        return str(last.sval) if last is not None and hasattr(last, "sval") else ""
    if name == "FuncCall":
        return str(expr.funcname[-1].sval)
    if name == "TypeCast":
        return _named(expr.arg) or str(expr.typeName.names[-1].sval)
    if name == "A_Indirection":
        last = expr.indirection[-1]
        return str(last.sval) if hasattr(last, "sval") else _named(expr.arg)
    if name == "MinMaxExpr":
        return "greatest" if "GREATEST" in str(expr.op) else "least"
    if name == "SubLink":
        kind = str(expr.subLinkType)
        if "EXISTS" in kind:
            return "exists"
        if "ARRAY" in kind:
            return "array"
        inner = _first_branch(expr.subselect)
        return (inner[0].name or _named(inner[0].val)) if inner else ""
    return _plain().get(name, "")
