"""Accounts: users, sites and their members, API keys, tokens. Shared by the management API, ingestion
and the stats API."""
