"""The only package that imports duckdb and sqlglot."""
