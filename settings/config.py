"""Configuration from command-line flags and environment variables (flags win).

Every setting has a safe default so `python run.py` with nothing set serves on the embedded default.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from domain.accounts.registration import env_mode
from domain.mail.settings import MailSettings, MailSettingsError, mail_settings

# Environment-only numbers: Config field → (variable, whole number?). Every one must be above 0.
NUMBERS: dict[str, tuple[str, bool]] = {
    "api_rate_limit": ("EDDY_API_RATE_LIMIT", True),
    "ingest_key_rps": ("EDDY_INGEST_KEY_RPS", True),
    "ingest_site_rps": ("EDDY_INGEST_SITE_RPS", True),
    "ingest_socket_mps": ("EDDY_INGEST_SOCKET_MPS", False),
    "import_max_bytes": ("EDDY_IMPORT_MAX_BYTES", True),
    "max_connections": ("EDDY_MAX_CONNECTIONS", True),
    "compact_interval_s": ("EDDY_COMPACT_INTERVAL_S", False),
    "query_timeout_s": ("EDDY_QUERY_TIMEOUT_S", False),
    "retention_sweep_s": ("EDDY_RETENTION_SWEEP_S", False),
    "visitors_now_refresh_s": ("EDDY_VISITORS_NOW_REFRESH_S", False),
    "live_membership_recheck_s": ("EDDY_LIVE_MEMBERSHIP_RECHECK_S", False),
    "report_check_s": ("EDDY_REPORT_CHECK_S", False),
    "alert_interval_s": ("EDDY_ALERT_INTERVAL_S", False),
    "alert_retry_base_s": ("EDDY_ALERT_RETRY_BASE_S", False),
    "mail_poll_s": ("EDDY_MAIL_POLL_S", False),
    "mail_retry_base_s": ("EDDY_MAIL_RETRY_BASE_S", False),
}


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
    # Environment-only settings (README's table), checked by `load_config`. The defaults are the
    # documented ones; the modules that use a setting take it as an argument.
    registration: str | None = None  # open, invite or closed; None: the instance admin chooses
    api_rate_limit: int = 1200  # management API requests per user per minute
    ingest_key_rps: int = 5000
    ingest_site_rps: int = 10000
    ingest_socket_mps: float = 100.0
    import_max_bytes: int = 1 << 30
    max_connections: int = 1000  # open HTTP connections per process
    # None: no compactor process (the in-process compactor still serves explicit passes); tests use it
    compact_interval_s: float | None = 2.0
    query_timeout_s: float = 30.0
    retention_sweep_s: float = 3600.0
    visitors_now_refresh_s: float = 5.0
    live_membership_recheck_s: float = 60.0
    report_check_s: float = 300.0
    alert_interval_s: float = 30.0
    alert_retry_base_s: float = 1.0
    # Internal addresses alert webhooks may reach (EDDY_WEBHOOK_ALLOW; public ones only otherwise).
    webhook_allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    mail: MailSettings | None = None  # EDDY_SMTP_URL, EDDY_MAIL_FROM, EDDY_SMTP_TIMEOUT_S; None: no mail
    mail_poll_s: float = 2.0
    mail_retry_base_s: float = 30.0
    # Google's endpoints, replaced only to sign in against a stand-in (tests).
    google_authorize_url: str | None = None
    google_token_url: str | None = None
    google_userinfo_url: str | None = None


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
        raise SystemExit(
            f"{name} must be addresses or CIDR networks separated by commas ({error})."
        ) from None


def _number(env: Mapping[str, str], name: str, whole: bool, default: float) -> float:
    """The variable `name` as a number above 0 (a whole one when `whole`), or `default` when unset."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = 0
    if value <= 0 or not math.isfinite(value):
        kind = "a whole number of at least 1" if whole else "a number above 0"
        raise SystemExit(f"{name} must be {kind}, not {raw!r}.")
    return value


def _env_settings(env: Mapping[str, str]) -> dict[str, object]:
    """The Config fields set by environment variables alone, checked (SystemExit with a sentence)."""
    settings: dict[str, object] = {
        field: _number(env, name, whole, getattr(Config, field)) for field, (name, whole) in NUMBERS.items()
    }
    try:
        settings["mail"] = mail_settings(env)
    except MailSettingsError as error:
        raise SystemExit(str(error)) from None
    settings["registration"] = env_mode(env)
    settings["webhook_allow"] = _networks("EDDY_WEBHOOK_ALLOW", env.get("EDDY_WEBHOOK_ALLOW", ""))
    for field in ("google_authorize_url", "google_token_url", "google_userinfo_url"):
        settings[field] = env.get("EDDY_" + field.upper()) or None
    return settings


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
        **_env_settings(env),  # type: ignore[arg-type]
    )
