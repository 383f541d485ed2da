"""Helpers shared by the tests: real servers (Redis), free ports, and API request helpers."""
