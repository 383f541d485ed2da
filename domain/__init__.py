"""What Eddy does, independent of HTTP and of the storage engine: accounts and keys, the ingest pipeline,
live counters, and analytics queries. Handlers call into here; this calls the storage ports."""
