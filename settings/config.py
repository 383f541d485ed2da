"""Configuration from command-line flags and environment variables (flags win).

Every setting has a safe default so `python run.py` with nothing set serves on the embedded default.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class Config:
    """Everything one Eddy process needs to know about its deployment."""

    port: int = 8888
    host: str = "127.0.0.1"
    data_dir: Path = Path("data")
    mongo_uri: str | None = None
    redis_url: str | None = None
    processes: int = 1
    public_url: str | None = None
    trust_proxy: bool = False
    retention_days: int = 400
    metrics_token: str | None = None
    # Without a metrics token, /metrics answers loopback and these networks only (EDDY_METRICS_ALLOW).
    metrics_allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    google_client_id: str | None = None
    google_client_secret: str | None = None
    redis_prefix: str = "eddy:"
    mongo_prefix: str = ""
    log_level: str = "INFO"
    use_uvloop: bool = True
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        """True when no MongoDB is configured (SQLite files in the data dir)."""
        return not self.mongo_uri

    def with_overrides(self, **changes: object) -> Config:
        """A copy with some fields changed (tests build configs this way)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _env_bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run.py", description="Eddy: real-time web analytics server")
    p.add_argument("--port", type=int, default=int(env.get("EDDY_PORT", 8888)), help="HTTP port (EDDY_PORT)")
    p.add_argument("--host", default=env.get("EDDY_HOST", "127.0.0.1"), help="bind address (EDDY_HOST)")
    p.add_argument(
        "--data-dir", default=env.get("EDDY_DATA_DIR", "data"), help="data directory (EDDY_DATA_DIR)"
    )
    p.add_argument("--mongo-uri", default=env.get("MONGODB_URI") or None, help="MongoDB URI (MONGODB_URI)")
    p.add_argument("--redis-url", default=env.get("REDIS_URL") or None, help="Redis URL (REDIS_URL)")
    p.add_argument(
        "--processes",
        type=int,
        default=int(env.get("EDDY_PROCESSES", 1)),
        help="worker processes sharing the port (EDDY_PROCESSES)",
    )
    p.add_argument(
        "--public-url",
        default=env.get("EDDY_PUBLIC_URL") or None,
        help="Eddy's public base URL, used in snippets and dashboard origin checks (EDDY_PUBLIC_URL)",
    )
    p.add_argument(
        "--trust-proxy",
        action=argparse.BooleanOptionalAction,
        default=_env_bool(env.get("EDDY_TRUST_PROXY"), False),
        help="trust X-Forwarded-For/-Proto from a reverse proxy (EDDY_TRUST_PROXY)",
    )
    p.add_argument(
        "--retention-days",
        type=int,
        default=int(env.get("EDDY_RETENTION_DAYS", 400)),
        help="longest event retention in days (EDDY_RETENTION_DAYS)",
    )
    p.add_argument(
        "--uvloop",
        action=argparse.BooleanOptionalAction,
        default=_env_bool(env.get("EDDY_UVLOOP"), True),
        help="use uvloop when installed (EDDY_UVLOOP)",
    )
    p.add_argument("--log-level", default=env.get("EDDY_LOG_LEVEL", "INFO"))
    return p


def _networks(name: str, raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated addresses or CIDR networks."""
    try:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()
        )
    except ValueError as error:
        raise SystemExit(f"{name}: {error}") from None


def load_config(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Build a Config from flags (argv) over environment variables (env) over defaults."""
    env = dict(os.environ if env is None else env)
    args = _parser(env).parse_args(argv)
    if args.processes < 1:
        raise SystemExit("--processes must be at least 1")
    if args.retention_days < 1:
        raise SystemExit("--retention-days must be at least 1")
    if not 0 <= args.port <= 65535:
        raise SystemExit("--port must be between 0 and 65535")
    return Config(
        port=args.port,
        host=args.host,
        data_dir=Path(args.data_dir),
        mongo_uri=args.mongo_uri,
        redis_url=args.redis_url,
        processes=args.processes,
        public_url=(args.public_url or "").rstrip("/") or None,
        trust_proxy=args.trust_proxy,
        retention_days=args.retention_days,
        metrics_token=env.get("EDDY_METRICS_TOKEN") or None,
        metrics_allow=_networks("EDDY_METRICS_ALLOW", env.get("EDDY_METRICS_ALLOW", "")),
        google_client_id=env.get("EDDY_GOOGLE_CLIENT_ID") or None,
        google_client_secret=env.get("EDDY_GOOGLE_CLIENT_SECRET") or None,
        redis_prefix=env.get("EDDY_REDIS_PREFIX", "eddy:"),
        mongo_prefix=env.get("EDDY_MONGO_PREFIX", ""),
        log_level=args.log_level.upper(),
        use_uvloop=args.uvloop,
        extra={k: v for k, v in env.items() if k.startswith("EDDY_")},
    )
