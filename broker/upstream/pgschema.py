"""What the SQL console's schema browser lists: schemas, tables and views, columns and types."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from broker.common.errors import UpstreamError
from broker.upstream.postgres import PgSession, SqlError

MAX_COLUMNS = 20_000
"""Columns listed at most (a database with more shows the first ones, by schema and table)."""

_QUERY = """
SELECT n.nspname, c.relname, c.relkind::text, a.attname,
       format_type(a.atttypid, a.atttypmod)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attribute a
  ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%'
  AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY 1, 2, a.attnum
LIMIT $1
"""

KINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "f": "foreign table"}


@dataclass(frozen=True)
class Column:
    """A column and its type as PostgreSQL spells it (``character varying(80)``)."""

    name: str
    type: str


@dataclass(frozen=True)
class Relation:
    """A table or view."""

    schema: str
    name: str
    kind: str
    """table, view, materialized view or foreign table."""
    columns: tuple[Column, ...]


async def list_relations(session: PgSession) -> list[Relation]:
    """Every table and view outside the system schemas, with its columns.

    Raises:
        SqlError: the catalog could not be read (e.g. in a failed transaction).
    """
    try:
        records = await session.db.fetch(_QUERY, MAX_COLUMNS)
    except asyncpg.PostgresError as exc:
        raise SqlError(str(exc)) from None
    except (OSError, asyncpg.InterfaceError) as exc:
        raise UpstreamError(f"{session.conn.name}: {exc}") from None
    relations: list[Relation] = []
    columns: list[Column] = []
    key: tuple[str, str, str] | None = None
    for schema, name, kind, column, type_name in records:
        here = (schema, name, KINDS.get(kind, kind))
        if key != here:
            if key is not None:
                relations.append(Relation(*key, columns=tuple(columns)))
            key, columns = here, []
        if column is not None:
            columns.append(Column(column, type_name))
    if key is not None:
        relations.append(Relation(*key, columns=tuple(columns)))
    return relations
