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
from handlers.context import AppContext, Component, EventListener
from runtime.loop_lag import LoopLagMonitor
from runtime.metrics import Metrics
from runtime.secrets import Secrets
from runtime.sockets import SocketRegistry
from server.stores import build_stores
from settings.config import Config
from storage.ports import Stores
from web.websocket import Keepalive


def build_context(config: Config, secrets: Secrets, stores: Stores | None = None) -> AppContext:
    """An unstarted context; `await ctx.start()` inside the running loop opens and starts everything."""
    stores = stores if stores is not None else build_stores(config)
    metrics = Metrics()
    sockets = SocketRegistry()
    websockets = Keepalive()
    tokens = TokenService(secrets.jwt_key)
    bearer = BearerAuthenticator(tokens, stores.docs, stores.bus)
    keys = KeyAuthenticator(stores.docs, secrets.hash_key, stores.bus)
    site_access = SiteAccess(stores.docs)
    # Mail: queued in the outbox by the request path, delivered in the background by every process.
    mailer = Mailer(stores.docs, config.mail, config.public_url)
    mail = MailDelivery(
        stores.docs,
        config.mail,
        poll_s=config.mail_poll_s,
        retry=RetryPolicy(base_s=config.mail_retry_base_s),
        on_outcome=metrics.on_mail_outcome,
        on_counts=metrics.on_mail_counts,
    )
    mailer.on_queued = mail.wake
    accounts = build_accounts(
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
    )
    # A revoked session (logout, password change, refresh reuse) closes its open dashboards at once.
    bearer.revocation_listeners.append(sockets.end_sessions)
    live = LiveService(stores, on_failure=metrics.on_store_error, on_drop=metrics.live_dropped.inc)
    # A removed member's open dashboards end at once (every process), and on a periodic recheck.
    membership = MembershipWatch(
        sockets, stores.docs, site_access, stores.bus, config.live_membership_recheck_s
    )
    accounts.members.on_removed = membership.member_removed
    # Operators' view: site analytics series, and the sites' declared metrics (reloaded at run time).
    user_metrics = UserMetrics(stores.docs, stores.bus, metrics)
    alerts = build_alert_checker(
        stores,
        metrics,
        interval_s=config.alert_interval_s,
        retry_base_s=config.alert_retry_base_s,
        webhook_allow=config.webhook_allow,
    )
    alerts.notify_email = AlertMailer(stores.docs, mailer).notify
    # Visitors now per site as a gauge, read from the live module's shared member sets.
    visitors_now = VisitorsNowSeries(stores.kv, metrics, config.visitors_now_refresh_s)
    # Analytics queries: answers cached per site version; each durable batch bumps its sites' versions.
    stats = StatsService(
        stores.events,
        StatsCache(stores.kv),
        imported=ImportedHistory(stores.docs, stores.events),
        observe=metrics.on_stats_question,
    )
    bumper = VersionBumper(stats.cache)
    # Every durable batch reaches these, in this order (domain/ingest/writer.py).
    event_listeners: list[EventListener] = [live.on_events, metrics.on_events, visitors_now.on_events, bumper]
    writer = GroupCommitWriter(stores.events, metrics, event_listeners)
    ingest = IngestPipeline(
        keys,
        stores.docs,
        stores.kv,
        writer,
        metrics,
        IngestLimits(config.ingest_key_rps, config.ingest_site_rps, config.ingest_socket_mps),
    )
    # Retention: events past each site's retention leave every part of the event store on a schedule.
    retention = RetentionSweeper(
        stores.docs, stores.events, stats.cache, config.retention_days, interval_s=config.retention_sweep_s
    )
    # Email reports: due ones are looked for every EDDY_REPORT_CHECK_S seconds (default 300).
    reports = Reports(
        stores.docs,
        stats,
        mailer,
        site_access.role_of,
        accounts.sites.list_for,
        secrets.hash_key,
        interval_s=config.report_check_s,
    )
    # A revoked share link ends its live streams like a revoked sign-in session, in every process.
    share = ShareLinks(stores.docs, secrets.hash_key, on_revoked=bearer.session_revoked)
    # Imports write events around the group commit: they bump the site's stats version themselves.
    imports = ImportService(
        stores.docs, stores.events, config.data_dir / "imports", on_events_written=stats.cache.bump
    )
    # Components start in this order after the stores open, and stop in reverse before they close: the
    # writer stops (flushing every queued event) before the stores close.
    components: list[Component] = [
        bearer,
        keys,
        accounts.hasher,
        websockets,
        live,
        membership,
        ingest,
        writer,
        user_metrics,
        alerts,
        visitors_now,
        LoopLagMonitor(metrics.ioloop_lag),
        bumper,
        retention,
        mail,
        reports,
        imports,
    ]
    return AppContext(
        config=config,
        secrets=secrets,
        stores=stores,
        metrics=metrics,
        tokens=tokens,
        bearer=bearer,
        keys=keys,
        site_access=site_access,
        accounts=accounts,
        sockets=sockets,
        websockets=websockets,
        ingest=ingest,
        user_metrics=user_metrics,
        alerts=alerts,
        live=live,
        stats=stats,
        share=share,
        retention=retention,
        mailer=mailer,
        mail=mail,
        reports=reports,
        # Plausible's and Umami's trackers and APIs, for the sites that switch them on (domain/compat/).
        compat_sites=CompatSites(stores.docs),
        imports=imports,
        event_listeners=event_listeners,
        components=components,
    )
