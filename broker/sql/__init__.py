"""SQL statements: classification on PostgreSQL's own parser, statement rules, result output."""
