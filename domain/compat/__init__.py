"""Compatibility with other analytics' trackers and APIs (Plausible's Events API, Umami's /api/send):
their requests become Eddy events through the same enrichment, commit, live panel and stats."""
