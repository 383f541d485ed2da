"""Eddy's configuration: every flag and environment variable, parsed and validated at start (`config.py`).
Above the domain (it may use the domain's own parsers and types), below the handlers that read it."""
