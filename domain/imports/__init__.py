"""Imports of other analytics' history and of Eddy's own exports: Umami's raw tables (CSV), Eddy's JSON
and CSV exports (events, through the EventStore port), and Plausible CE's export (daily aggregates, kept
in their own collection and merged into the history answer)."""
