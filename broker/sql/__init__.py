"""SQL statements: classification on PostgreSQL's own parser (pglast), and result output."""
