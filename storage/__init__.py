"""Storage: the ports (interfaces) Eddy's domain talks to, and their implementations.

Embedded default: SQLite on disk for documents and events, in-process key-value and bus.
Production: MongoDB (documents + a time-series collection for events) and Redis (key-value + pub/sub).
"""
