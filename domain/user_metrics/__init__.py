"""User-declared metrics: the per-site metric configs turned into Prometheus families with the site as a
label, fed by metric samples (`POST /api/v1/metrics` and the tracker)."""
