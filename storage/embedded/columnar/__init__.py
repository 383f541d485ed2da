"""The columnar analytics engine of the embedded store: Parquet segments compacted from the
SQLite log, read by DuckDB."""
