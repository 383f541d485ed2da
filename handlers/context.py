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


@dataclass
class AppContext:
    """Dependencies of one Eddy process. Domain services are attached by `server.services`."""

    config: Config
    secrets: Secrets
    stores: Stores
    metrics: Metrics
    tokens: TokenService
    bearer: BearerAuthenticator
    keys: KeyAuthenticator
    site_access: SiteAccess
    accounts: Accounts
    sockets: SocketRegistry = field(default_factory=SocketRegistry)
    # pings, pong timeouts and deadlines of every lean websocket (web/websocket.py), in one sweep
    websockets: Keepalive = field(default_factory=Keepalive)
    event_listeners: list[EventListener] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    # The collect pipeline (set by server.services.build_context).
    ingest: IngestPipeline = field(init=False)
    # User-declared metric families (set by server.services).
    user_metrics: UserMetrics = field(init=False)
    # Alert rules checked on an interval, with their webhooks (set by server.services).
    alerts: AlertChecker = field(init=False)
    started_at: float = field(default_factory=time.time)
    # live dashboards (hub + publisher); set by server.services
    live: LiveService | None = None
    # analytics queries with their cache (set by server.services)
    stats: StatsService = field(init=False)
    # read-only share links of dashboards (set by server.services)
    share: ShareLinks = field(init=False)
    # deletes events past each site's retention (set by server.services)
    retention: RetentionSweeper = field(init=False)
    # mail: queueing (mailer) and background delivery of the outbox (set by server.services)
    mailer: Mailer = field(init=False)
    mail: MailDelivery = field(init=False)
    # weekly/monthly email reports (set by server.services)
    reports: Reports = field(init=False)
    # sites taking Plausible / Umami traffic, by domain or website id (set by server.services)
    compat_sites: CompatSites = field(init=False)
    # uploads of other analytics' history and of Eddy's exports (set by server.services)
    imports: ImportService = field(init=False)

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
