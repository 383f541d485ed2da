"""Processes and scripts the ingest benchmark starts: a bare Tornado server, wrk Lua scripts, and
websocket load clients."""
