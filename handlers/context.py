"""The application context: every dependency a handler may use, built once per process and passed to
handlers through the Tornado application settings (never module globals)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from domain.accounts.access import BearerAuthenticator, SiteAccess
from domain.accounts.keys import KeyAuthenticator
from domain.accounts.service import Accounts
from domain.accounts.tokens import TokenService
from domain.alerts.checker import AlertChecker
from domain.compat.sites import CompatSites
from domain.imports.service import ImportService
from domain.ingest.pipeline import IngestPipeline
from domain.live.service import LiveService
from domain.mail.outbox import MailDelivery, Mailer
from domain.reports.service import Reports
from domain.retention_sweep import RetentionSweeper
from domain.share import ShareLinks
from domain.stats.service import StatsService
from domain.user_metrics.service import UserMetrics
from runtime.metrics import Metrics
from runtime.secrets import Secrets
from runtime.sockets import SocketRegistry
from settings.config import Config
from storage.ports import Stores
from storage.records import Event
from web.websocket import Keepalive

# Called with each batch of events right after it is durable (live counters, site metrics...). Listeners
# run on the IOLoop and must be quick and never raise.
EventListener = Callable[[Sequence[Event]], None]

log = logging.getLogger("eddy")


class Component(Protocol):
    """A long-lived part with background work (a writer, a ticker...): started after the stores open,
    stopped before they close, in reverse order."""

    async def start(self) -> None:
        """Begin background work."""

    async def stop(self) -> None:
        """Finish pending work (flush) and stop."""


@dataclass(frozen=True)
class AppContext:
    """Dependencies of one Eddy process, every one set when it is built (`server.services`)."""

    config: Config
    secrets: Secrets
    stores: Stores
    metrics: Metrics
    tokens: TokenService
    bearer: BearerAuthenticator
    keys: KeyAuthenticator
    site_access: SiteAccess
    accounts: Accounts
    # the open sockets and streams: per-address caps, session revocation, shutdown
    sockets: SocketRegistry
    # pings, pong timeouts and deadlines of every lean websocket (web/websocket.py), in one sweep
    websockets: Keepalive
    # the collect pipeline
    ingest: IngestPipeline
    # user-declared metric families
    user_metrics: UserMetrics
    # alert rules checked on an interval, with their webhooks
    alerts: AlertChecker
    # live dashboards (hub + publisher)
    live: LiveService
    # analytics queries with their cache
    stats: StatsService
    # read-only share links of dashboards
    share: ShareLinks
    # deletes events past each site's retention
    retention: RetentionSweeper
    # mail: queueing (mailer) and background delivery of the outbox
    mailer: Mailer
    mail: MailDelivery
    # weekly/monthly email reports
    reports: Reports
    # sites taking Plausible / Umami traffic, by domain or website id
    compat_sites: CompatSites
    # uploads of other analytics' history and of Eddy's exports
    imports: ImportService
    # called with each durable batch, in this order
    event_listeners: Sequence[EventListener]
    # started in this order after the stores open, stopped in reverse before they close
    components: Sequence[Component]
    started_at: float = field(default_factory=time.time)

    async def start(self) -> None:
        """Open the stores, then start every component in order."""
        await self.stores.open()
        for component in self.components:
            await component.start()

    async def stop(self) -> None:
        """Stop components newest first (each flushes), then close the stores."""
        for component in reversed(self.components):
            try:
                await component.stop()
            except Exception:
                log.exception("component %r failed to stop", component)
        await self.stores.close()
