"""Build the application context for a configuration: stores, metrics and the domain services."""

from __future__ import annotations

from domain.accounts.access import BearerAuthenticator, SiteAccess
from domain.accounts.keys import KeyAuthenticator
from domain.accounts.service import build_accounts
from domain.accounts.tokens import TokenService
from domain.alerts.checker import build_alert_checker
from domain.compat.sites import CompatSites
from domain.imports.service import ImportService
from domain.ingest.pipeline import IngestLimits, IngestPipeline
from domain.ingest.writer import GroupCommitWriter
from domain.live.service import LiveService
from domain.share import ShareLinks
from domain.stats.cache import StatsCache, VersionBumper
from domain.stats.service import StatsService
from domain.user_metrics.service import UserMetrics
from domain.visitors_now import VisitorsNowSeries
from server.config import Config
from server.context import AppContext
from server.loop_lag import LoopLagMonitor
from server.metrics import Metrics
from server.secrets import Secrets
from storage.factory import build_stores
from storage.ports import Stores


def build_context(config: Config, secrets: Secrets, stores: Stores | None = None) -> AppContext:
    """An unstarted context; `await ctx.start()` inside the running loop opens and starts everything."""
    stores = stores if stores is not None else build_stores(config)
    tokens = TokenService(secrets.jwt_key)
    bearer = BearerAuthenticator(tokens, stores.docs, stores.bus)
    keys = KeyAuthenticator(stores.docs, secrets.hash_key, stores.bus)
    ctx = AppContext(
        config=config,
        secrets=secrets,
        stores=stores,
        metrics=Metrics(),
        tokens=tokens,
        bearer=bearer,
        keys=keys,
        site_access=SiteAccess(stores.docs),
        accounts=build_accounts(
            stores,
            tokens,
            bearer,
            keys,
            hash_key=secrets.hash_key,
            pepper=secrets.password_pepper,
            max_retention_days=config.retention_days,
            extra=config.extra,
        ),
    )
    # Components start in this order after the stores open, and stop in reverse before they close.
    ctx.components.extend([ctx.bearer, ctx.keys, ctx.accounts.hasher, ctx.websockets])
    # A revoked session (logout, password change, refresh reuse) closes its open dashboards at once.
    ctx.bearer.revocation_listeners.append(ctx.sockets.end_sessions)
    ctx.live = LiveService(
        stores,
        on_failure=lambda part: ctx.metrics.store_errors.labels(part).inc(),
        on_drop=ctx.metrics.live_dropped.inc,
    )
    ctx.event_listeners.append(ctx.live.on_events)
    ctx.components.append(ctx.live)
    writer = GroupCommitWriter(stores.events, ctx.metrics, ctx.event_listeners)
    ctx.ingest = IngestPipeline(
        ctx.keys, stores.docs, stores.kv, writer, ctx.metrics, IngestLimits.from_env(config.extra)
    )
    # The writer stops (flushing every queued event) before the stores close.
    ctx.components.extend([ctx.ingest, writer])
    # Operators' view: site analytics series, and the sites' declared metrics (reloaded at run time).
    ctx.event_listeners.append(ctx.metrics.on_events)
    ctx.user_metrics = UserMetrics(stores.docs, stores.bus, ctx.metrics)
    ctx.components.append(ctx.user_metrics)
    ctx.alerts = build_alert_checker(stores, ctx.metrics, config.extra)
    ctx.components.append(ctx.alerts)
    # Visitors now per site as a gauge, read from the live module's shared member sets.
    visitors_now = VisitorsNowSeries(
        stores.kv, ctx.metrics, float(config.extra.get("EDDY_VISITORS_NOW_REFRESH_S", 5))
    )
    ctx.event_listeners.append(visitors_now.on_events)
    ctx.components.append(visitors_now)
    ctx.components.append(LoopLagMonitor(ctx.metrics.ioloop_lag))
    # Analytics queries: answers cached per site version; each durable batch bumps its sites' versions.
    ctx.stats = StatsService(stores.events, StatsCache(stores.kv))
    bumper = VersionBumper(ctx.stats.cache)
    ctx.event_listeners.append(bumper)
    ctx.components.append(bumper)
    # A revoked share link ends its live streams like a revoked sign-in session, in every process.
    ctx.share = ShareLinks(stores.docs, secrets.hash_key, on_revoked=ctx.bearer.session_revoked)
    # Plausible's and Umami's trackers and APIs, for the sites that switch them on (domain/compat/).
    ctx.compat_sites = CompatSites(stores.docs)
    # Imports write events around the group commit: they bump the site's stats version themselves.
    ctx.imports = ImportService(
        stores.docs, stores.events, config.data_dir / "imports", on_events_written=ctx.stats.cache.bump
    )
    ctx.components.append(ctx.imports)
    return ctx
