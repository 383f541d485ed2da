"""Build the application context for a configuration: stores, metrics and the domain services."""

from __future__ import annotations

from domain.accounts.access import BearerAuthenticator, SiteAccess
from domain.accounts.keys import KeyAuthenticator
from domain.accounts.service import build_accounts
from domain.accounts.tokens import TokenService
from domain.alerts.checker import build_alert_checker
from domain.alerts.email import AlertMailer
from domain.compat.sites import CompatSites
from domain.imports.service import ImportService
from domain.ingest.pipeline import IngestLimits, IngestPipeline
from domain.ingest.writer import GroupCommitWriter
from domain.live.membership import MembershipWatch
from domain.live.service import LiveService
from domain.mail.outbox import MailDelivery, Mailer, RetryPolicy
from domain.reports.service import Reports
from domain.retention_sweep import RetentionSweeper
from domain.share import ShareLinks
from domain.stats.cache import StatsCache, VersionBumper
from domain.stats.imported import ImportedHistory
from domain.stats.service import StatsService
from domain.user_metrics.service import UserMetrics
from domain.visitors_now import VisitorsNowSeries
from handlers.context import AppContext
from runtime.loop_lag import LoopLagMonitor
from runtime.metrics import Metrics
from runtime.secrets import Secrets
from server.stores import build_stores
from settings.config import Config
from storage.ports import Stores


def build_context(config: Config, secrets: Secrets, stores: Stores | None = None) -> AppContext:
    """An unstarted context; `await ctx.start()` inside the running loop opens and starts everything."""
    stores = stores if stores is not None else build_stores(config)
    settings = config.mail
    tokens = TokenService(secrets.jwt_key)
    bearer = BearerAuthenticator(tokens, stores.docs, stores.bus)
    keys = KeyAuthenticator(stores.docs, secrets.hash_key, stores.bus)
    mailer = Mailer(stores.docs, settings, config.public_url)
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
            mailer=mailer,
            api_rate_limit=config.api_rate_limit,
            registration_mode=config.registration,
        ),
    )
    # Components start in this order after the stores open, and stop in reverse before they close.
    ctx.components.extend([ctx.bearer, ctx.keys, ctx.accounts.hasher, ctx.websockets])
    # A revoked session (logout, password change, refresh reuse) closes its open dashboards at once.
    ctx.bearer.revocation_listeners.append(ctx.sockets.end_sessions)
    ctx.live = LiveService(
        stores,
        on_failure=ctx.metrics.on_store_error,
        on_drop=ctx.metrics.live_dropped.inc,
    )
    ctx.event_listeners.append(ctx.live.on_events)
    ctx.components.append(ctx.live)
    # A removed member's open dashboards end at once (every process), and on a periodic recheck.
    membership = MembershipWatch(
        ctx.sockets,
        stores.docs,
        ctx.site_access,
        stores.bus,
        config.live_membership_recheck_s,
    )
    ctx.accounts.members.on_removed = membership.member_removed
    ctx.components.append(membership)
    writer = GroupCommitWriter(stores.events, ctx.metrics, ctx.event_listeners)
    ctx.ingest = IngestPipeline(
        ctx.keys,
        stores.docs,
        stores.kv,
        writer,
        ctx.metrics,
        IngestLimits(config.ingest_key_rps, config.ingest_site_rps, config.ingest_socket_mps),
    )
    # The writer stops (flushing every queued event) before the stores close.
    ctx.components.extend([ctx.ingest, writer])
    # Operators' view: site analytics series, and the sites' declared metrics (reloaded at run time).
    ctx.event_listeners.append(ctx.metrics.on_events)
    ctx.user_metrics = UserMetrics(stores.docs, stores.bus, ctx.metrics)
    ctx.components.append(ctx.user_metrics)
    ctx.alerts = build_alert_checker(
        stores,
        ctx.metrics,
        interval_s=config.alert_interval_s,
        retry_base_s=config.alert_retry_base_s,
        webhook_allow=config.webhook_allow,
    )
    ctx.alerts.notify_email = AlertMailer(stores.docs, mailer).notify
    ctx.components.append(ctx.alerts)
    # Visitors now per site as a gauge, read from the live module's shared member sets.
    visitors_now = VisitorsNowSeries(stores.kv, ctx.metrics, config.visitors_now_refresh_s)
    ctx.event_listeners.append(visitors_now.on_events)
    ctx.components.append(visitors_now)
    ctx.components.append(LoopLagMonitor(ctx.metrics.ioloop_lag))
    # Analytics queries: answers cached per site version; each durable batch bumps its sites' versions.
    ctx.stats = StatsService(
        stores.events, StatsCache(stores.kv), imported=ImportedHistory(stores.docs, stores.events)
    )
    bumper = VersionBumper(ctx.stats.cache)
    ctx.event_listeners.append(bumper)
    ctx.components.append(bumper)
    # Retention: events past each site's retention leave every part of the event store on a schedule.
    ctx.retention = RetentionSweeper(
        stores.docs,
        stores.events,
        ctx.stats.cache,
        config.retention_days,
        interval_s=config.retention_sweep_s,
    )
    ctx.components.append(ctx.retention)
    # A revoked share link ends its live streams like a revoked sign-in session, in every process.
    # Mail: queued in the outbox by the request path, delivered in the background by every process.
    ctx.mailer = mailer
    ctx.mail = MailDelivery(
        stores.docs,
        settings,
        poll_s=config.mail_poll_s,
        retry=RetryPolicy(base_s=config.mail_retry_base_s),
        on_outcome=ctx.metrics.on_mail_outcome,
        on_counts=ctx.metrics.on_mail_counts,
    )
    ctx.mailer.on_queued = ctx.mail.wake
    ctx.components.append(ctx.mail)
    # Email reports: due ones are looked for every EDDY_REPORT_CHECK_S seconds (default 300).
    ctx.reports = Reports(
        stores.docs,
        ctx.stats,
        mailer,
        ctx.site_access.role_of,
        ctx.accounts.sites.list_for,
        secrets.hash_key,
        interval_s=config.report_check_s,
    )
    ctx.components.append(ctx.reports)
    ctx.share = ShareLinks(stores.docs, secrets.hash_key, on_revoked=ctx.bearer.session_revoked)
    # Plausible's and Umami's trackers and APIs, for the sites that switch them on (domain/compat/).
    ctx.compat_sites = CompatSites(stores.docs)
    # Imports write events around the group commit: they bump the site's stats version themselves.
    ctx.imports = ImportService(
        stores.docs, stores.events, config.data_dir / "imports", on_events_written=ctx.stats.cache.bump
    )
    ctx.components.append(ctx.imports)
    return ctx
