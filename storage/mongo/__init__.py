"""MongoDB implementations (PyMongo's native async API, `AsyncMongoClient`; Motor is end of life)."""
