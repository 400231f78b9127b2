"""Pure SQL statement classification on pglast (PostgreSQL's own parser).

Each statement in a string gets a kind (read, write, ddl, dcl, utility, transaction), the verbs it
performs (nested DML in CTEs included), whether an UPDATE/DELETE has no WHERE, and the functions it
calls that are known to write or to reach outside the database. What cannot be decided from the
text (`DO` blocks, `EXECUTE` of a prepared statement, `COPY … PROGRAM`, server-side files,
`LOAD`) carries a refusal; so does a string that does not parse (with the parser's message).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pglast import parse_sql
from pglast.parser import ParseError, scan
from pglast.visitors import Visitor

Kind = Literal["read", "write", "ddl", "dcl", "utility", "transaction"]
KINDS: tuple[Kind, ...] = ("read", "write", "ddl", "dcl", "utility", "transaction")

WRITING_FUNCTIONS = frozenset(
    {
        "set_config",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_switch_wal",
        "pg_create_restore_point",
        "pg_promote",
        "lo_create",
        "lo_creat",
        "lo_unlink",
        "lo_from_bytea",
        "lo_put",
        "lo_truncate",
        "nextval",
        "setval",
        "lowrite",
        "pg_notify",
        "pg_advisory_lock",
        "pg_advisory_xact_lock",
        "pg_advisory_lock_shared",
        "pg_advisory_xact_lock_shared",
        "pg_try_advisory_lock",
        "pg_try_advisory_xact_lock",
        "pg_try_advisory_lock_shared",
        "pg_try_advisory_xact_lock_shared",
        "pg_advisory_unlock",
        "pg_advisory_unlock_shared",
        "pg_advisory_unlock_all",
        "pg_log_backend_memory_contexts",
        "pg_logical_emit_message",
        "pg_create_logical_replication_slot",
        "pg_create_physical_replication_slot",
        "pg_drop_replication_slot",
        "pg_import_system_collations",
    }
)
"""Functions that change state although they may be called from a SELECT (session-level
advisory locks outlive the statement's transaction; ``pg_stat_reset*`` and replication
origin functions are matched by prefix)."""
_WRITING_PREFIXES = ("pg_stat_reset", "pg_replication_origin_", "pg_replication_slot_")

ESCAPING_FUNCTIONS = frozenset(
    {
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "pg_ls_logdir",
        "pg_ls_waldir",
        "pg_ls_tmpdir",
        "pg_ls_archive_statusdir",
        "pg_file_write",
        "pg_file_rename",
        "pg_file_unlink",
        "pg_logdir_ls",
        "lo_import",
        "lo_export",
        "query_to_xml",
        "query_to_xml_and_xmlschema",
        "query_to_xmlschema",
        "cursor_to_xml",
        "ts_stat",
        "ts_rewrite",
    }
)
"""Functions that reach the server's files or run SQL text the classifier cannot see
(``ts_stat`` and ``ts_rewrite`` run a query given as a string)."""
_ESCAPING_PREFIXES = ("dblink",)

_DML = {
    "InsertStmt": "insert",
    "UpdateStmt": "update",
    "DeleteStmt": "delete",
    "MergeStmt": "merge",
}
_DCL = {
    "GrantRoleStmt": "grant",
    "CreateRoleStmt": "create",
    "AlterRoleStmt": "alter",
    "AlterRoleSetStmt": "alter",
    "DropRoleStmt": "drop",
    "AlterDefaultPrivilegesStmt": "alter",
    "ReassignOwnedStmt": "reassign",
    "DropOwnedStmt": "drop",
}
_UTILITY = {
    "VariableSetStmt": "set",
    "VariableShowStmt": "show",
    "ExplainStmt": "explain",
    "VacuumStmt": "vacuum",
    "LockStmt": "lock",
    "ListenStmt": "listen",
    "UnlistenStmt": "unlisten",
    "NotifyStmt": "notify",
    "DiscardStmt": "discard",
    "CheckPointStmt": "checkpoint",
    "DeclareCursorStmt": "declare",
    "FetchStmt": "fetch",
    "ClosePortalStmt": "close",
    "PrepareStmt": "prepare",
    "DeallocateStmt": "deallocate",
    "ConstraintsSetStmt": "set",
    "CallStmt": "call",
    "ClusterStmt": "cluster",
    "ReindexStmt": "reindex",
}
_READ_UTILITY = frozenset({"show", "fetch", "close", "deallocate"})
_UNDECIDABLE = {
    "DoStmt": "a DO block runs procedural code the broker cannot classify",
    "ExecuteStmt": "EXECUTE runs a prepared statement the broker cannot see",
    "LoadStmt": "LOAD loads a shared library into the server",
}


@dataclass(frozen=True)
class Statement:
    """One statement of a SQL string."""

    text: str
    """The statement's own text, as written."""
    kind: Kind
    """What it does: read, write, ddl, dcl, utility or transaction."""
    verb: str
    """Its leading verb in lower case: select, insert, drop, begin, set…"""
    verbs: frozenset[str] = frozenset()
    """Every verb it performs, its own and those nested (a DELETE inside a CTE)."""
    without_where: bool = False
    """An UPDATE or DELETE (possibly nested) with no WHERE, or WHERE true."""
    writing_functions: tuple[str, ...] = ()
    """Called functions known to change state."""
    escaping_functions: tuple[str, ...] = ()
    """Called functions that reach outside the database or run hidden SQL."""
    refusal: str = ""
    """Why this statement is refused whatever the rules say; empty when it is decidable."""


@dataclass(frozen=True)
class Classification:
    """A SQL string's statements, or the parser's error."""

    statements: tuple[Statement, ...] = ()
    error: str = ""
    """pglast's message when the string does not parse (then there are no statements)."""
    kinds: frozenset[str] = field(default=frozenset())
    """The union of the statements' kinds."""

    @property
    def refusal(self) -> str:
        """The first reason this string is refused whatever the rules say, or empty."""
        if self.error:
            return f"the statement does not parse: {self.error}"
        if not self.statements:
            return "no statement given"
        return next((s.refusal for s in self.statements if s.refusal), "")

    @property
    def summary(self) -> str:
        """A short audit form: `select:read; drop:ddl`."""
        return "; ".join(f"{s.verb}:{s.kind}" for s in self.statements)


MAX_STRUCTURE = 5000
"""Operators and keywords one statement may have. pglast turns a parse tree into Python objects
by recursion without a depth check: a chain of 20,000 UNIONs or 50,000 `+` overflows the C stack
and kills the process. Each chain step costs at least one such token, and chains of 5,000 of
every kind tried parse safely; the scanner that counts them does not recurse."""
_PLAIN_TOKENS = frozenset(
    {
        "IDENT",
        "UIDENT",
        "ICONST",
        "FCONST",
        "SCONST",
        "USCONST",
        "BCONST",
        "XCONST",
        "PARAM",
        "ASCII_40",  # (
        "ASCII_41",  # )
        "ASCII_44",  # ,
        "ASCII_46",  # .
    }
)


def _too_complex(sql: str) -> str:
    """Why ``sql`` is too deep to hand to the parser safely, or empty."""
    count = 0
    for token in scan(sql):
        if token.name == "ASCII_59":  # ;
            count = 0
        elif token.name not in _PLAIN_TOKENS:
            count += 1
            if count > MAX_STRUCTURE:
                return f"a statement has more than {MAX_STRUCTURE} operators and keywords"
    return ""


def classify(sql: str) -> Classification:
    """Classify every statement in ``sql``; never raises."""
    if "\x00" in sql:  # the parser reads a C string: it would see only the text before the NUL
        at = sql.index("\x00") + 1
        return Classification(error=f"the statement holds a NUL character (at character {at})")
    try:
        deep = _too_complex(sql)
        if deep:
            return Classification(error=deep)
        raws = parse_sql(sql)
    except ParseError as exc:
        message, position = (*exc.args, "", 0)[:2]
        where = f" (at character {int(position) + 1})" if isinstance(position, int) else ""
        return Classification(error=f"{message}{where}")
    except Exception as exc:  # the parser's other failures are refusals too, never crashes
        return Classification(error=str(exc) or type(exc).__name__)
    data = sql.encode()
    statements = []
    try:
        for raw in raws:
            start = raw.stmt_location or 0
            end = start + raw.stmt_len if raw.stmt_len else len(data)
            text = data[start:end].decode(errors="replace").strip()
            statements.append(_statement(raw.stmt, text))
    except RecursionError:
        return Classification(error="a statement is nested too deeply")
    return Classification(statements=tuple(statements), kinds=frozenset(s.kind for s in statements))


class _Walk(Visitor):
    """Collects nested DML, WHERE-less UPDATE/DELETE and function calls."""

    def __init__(self) -> None:
        super().__init__()
        self.verbs: set[str] = set()
        self.without_where = False
        self.functions: list[str] = []
        self.refusals: list[str] = []
        self.locks = False

    def visit(self, ancestors: Any, node: Any) -> None:
        name = type(node).__name__
        if name in _DML:
            self.verbs.add(_DML[name])
            if name in ("UpdateStmt", "DeleteStmt") and _unbounded(node.whereClause):
                self.without_where = True
        elif name == "FuncCall":
            parts = [getattr(p, "sval", "") for p in node.funcname or ()]
            if parts:
                self.functions.append(str(parts[-1]).lower())
        elif name == "SelectStmt" and (node.lockingClause or node.intoClause):
            self.locks = True
        elif name in _UNDECIDABLE:
            self.refusals.append(_UNDECIDABLE[name])


class _Columns(Visitor):
    """Finds whether an expression refers to any column."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def visit_ColumnRef(self, ancestors: Any, node: Any) -> None:
        self.found = True

    def visit_CurrentOfExpr(self, ancestors: Any, node: Any) -> None:
        self.found = True  # WHERE CURRENT OF: the cursor's one row


def _unbounded(where: Any) -> bool:
    """No WHERE, or one that names no column (`WHERE true`, `WHERE 1 = 1`): every row."""
    if where is None:
        return True
    columns = _Columns()
    columns(where)
    return not columns.found


def _statement(node: Any, text: str) -> Statement:
    walk = _Walk()
    walk(node)
    name = type(node).__name__
    kind, verb, refusal = _top(node, name, walk)
    writing = tuple(
        dict.fromkeys(
            f for f in walk.functions if f in WRITING_FUNCTIONS or f.startswith(_WRITING_PREFIXES)
        )
    )
    escaping = tuple(
        dict.fromkeys(
            f for f in walk.functions if f in ESCAPING_FUNCTIONS or f.startswith(_ESCAPING_PREFIXES)
        )
    )
    if kind in ("read", "utility") and (walk.verbs or writing or walk.locks):
        kind = "write"
    if escaping and not refusal:
        refusal = f"{escaping[0]}() reaches outside the database or runs SQL the broker cannot see"
    if walk.refusals and not refusal:
        refusal = walk.refusals[0]
    return Statement(
        text=text,
        kind=kind,
        verb=verb,
        verbs=frozenset({verb, *walk.verbs}),
        without_where=walk.without_where,
        writing_functions=writing,
        escaping_functions=escaping,
        refusal=refusal,
    )


def _top(node: Any, name: str, walk: _Walk) -> tuple[Kind, str, str]:
    """The statement's own kind, verb and refusal (before nested effects are added)."""
    if name == "SelectStmt":
        return ("ddl", "create", "") if node.intoClause else ("read", "select", "")
    if name in _DML:
        return "write", _DML[name], ""
    if name == "CopyStmt":
        return _copy(node)
    if name == "TransactionStmt":
        return "transaction", _transaction_verb(node), ""
    if name == "GrantStmt":
        return "dcl", "grant" if node.is_grant else "revoke", ""
    if name in _DCL:
        return "dcl", _DCL[name], ""
    if name == "ExplainStmt":
        analyze = any(getattr(o, "defname", "") == "analyze" for o in node.options or ())
        inner = _statement(node.query, "")
        if analyze or inner.refusal:
            return inner.kind, "explain", inner.refusal
        return "read", "explain", ""
    if name in _UTILITY:
        verb = _UTILITY[name]
        return ("read" if verb in _READ_UTILITY else "utility"), verb, ""
    if name in _UNDECIDABLE:
        return "utility", name.removesuffix("Stmt").lower(), _UNDECIDABLE[name]
    for prefix, verb in (("Create", "create"), ("Drop", "drop"), ("Alter", "alter")):
        if name.startswith(prefix):
            return "ddl", verb, ""
    if name in ("RenameStmt", "AlterObjectSchemaStmt", "AlterOwnerStmt"):
        return "ddl", "alter", ""
    if name == "TruncateStmt":
        return "ddl", "truncate", ""
    if name in ("CommentStmt", "SecLabelStmt", "IndexStmt", "ViewStmt", "RuleStmt"):
        return "ddl", "create" if name != "CommentStmt" else "comment", ""
    if name == "CreateTableAsStmt":
        return "ddl", "create", ""
    return "utility", name.removesuffix("Stmt").lower(), ""


def _copy(node: Any) -> tuple[Kind, str, str]:
    if node.is_program:
        return "utility", "copy", "COPY … PROGRAM runs a program on the database server"
    if node.filename:
        return "utility", "copy", "COPY to or from a server file reaches outside the database"
    refusal = "COPY … FROM STDIN/TO STDOUT is not supported by sql; use SELECT with --csv"
    return ("write" if node.is_from else "read"), "copy", refusal


def _transaction_verb(node: Any) -> str:
    kind = str(getattr(node.kind, "name", node.kind)).lower()
    return kind.removeprefix("trans_stmt_")
