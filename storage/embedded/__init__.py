"""The embedded default: SQLite files in the data dir (WAL mode, several processes may share them),
plus an in-process key-value store and bus."""
