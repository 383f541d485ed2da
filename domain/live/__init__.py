"""Live dashboards: per-site counters kept from ingested events, coalesced deltas fanned out over the bus
(Redis pub/sub, or in process), merged views per site in every process, and the per-dashboard streams."""
