"""Event ingestion: decode and validate, enrich, group-commit durably, acknowledge.

`pipeline.IngestPipeline` is the entry point the collect handlers call; `writer.GroupCommitWriter` is the
component that makes accepted events durable in batches.
"""
