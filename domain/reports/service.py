"""Report subscriptions and their sending.

`report_subscriptions`: {id, user_id, site_id, weekly, monthly, last_weekly, last_monthly, created_at}.
Any member of a site (owner, admin, viewer) may opt in for that site. Every `interval_s` each process
looks for due reports (domain/reports/periods.py: Monday / the 1st from 07:00 in the site's timezone);
one is claimed with a compare-and-set on `last_weekly`/`last_monthly`, so with several workers it goes
out once. The numbers come from the same StatsService the stats API answers from, over the same
[first day, last day] range in the site's timezone, so they are equal to what the dashboard shows.

Unsubscribing needs no sign-in: the link carries the subscription id and an HMAC of it under the server's
hash key (checked in constant time); it works from the mail's List-Unsubscribe header too (RFC 8058).
A subscription whose user has lost access to the site is dropped instead of sent.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Annotated

import msgspec

from domain.accounts.site_docs import StoredSite, stored_site
from domain.accounts.tokens import new_id
from domain.errors import Invalid
from domain.mail.outbox import Mailer
from domain.mail.templates import Mail
from domain.reports.periods import Period, due_period
from domain.reports.render import render
from domain.stats.query import parse_query
from domain.stats.service import StatsService
from runtime.periodic import Periodic
from storage.errors import DuplicateKeyError
from storage.ports import DocumentStore

log = logging.getLogger("eddy.reports")
KINDS = ("weekly", "monthly")
TOP = 5
MAX_LISTED = 500
RoleOf = Callable[[str, StoredSite], Awaitable[str | None]]
SitesOf = Callable[[str], Awaitable[list[tuple[StoredSite, str]]]]


class SubscriptionIn(msgspec.Struct, forbid_unknown_fields=True):
    """Which reports of a site to receive."""

    weekly: bool = False
    monthly: bool = False


class SubscriptionOut(msgspec.Struct, kw_only=True):
    """One site's report choices for the signed-in user."""

    site_id: str
    site_name: str
    weekly: bool
    monthly: bool


class SubscriptionList(msgspec.Struct):
    """`{subscriptions}`: one per site the user can see."""

    subscriptions: Annotated[list[SubscriptionOut], msgspec.Meta(max_length=MAX_LISTED)]


class UnsubscribeIn(msgspec.Struct, forbid_unknown_fields=True):
    """The id and key from an unsubscribe link."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


@dataclass(eq=False)
class Reports:
    """Subscriptions, the due-report sweep and the report mails (a context component)."""

    docs: DocumentStore
    stats: StatsService
    mailer: Mailer
    role_of: RoleOf
    sites_of: SitesOf
    hash_key: bytes = field(repr=False)  # a secret: never in a repr or a log line
    _: KW_ONLY
    interval_s: float = 300.0
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._rounds = Periodic("report sweep", self.send_due, lambda: self.interval_s, log)

    async def start(self) -> None:
        """Begin sweeping for due reports (only when mail can be sent)."""
        if self.mailer.enabled:
            self._rounds.start()

    async def stop(self) -> None:
        """Stop sweeping."""
        await self._rounds.stop()

    def key_for(self, subscription_id: str) -> str:
        """The unsubscribe key of a subscription."""
        digest = hmac.new(self.hash_key, f"unsubscribe:{subscription_id}".encode(), hashlib.sha256)
        return digest.hexdigest()[:40]

    async def list_for(self, user_id: str) -> list[SubscriptionOut]:
        """The user's choices for every site they can see."""
        rows = {
            row["site_id"]: row for row in await self.docs.find("report_subscriptions", {"user_id": user_id})
        }
        return [
            SubscriptionOut(
                site_id=site.id,
                site_name=site.name,
                weekly=bool(rows.get(site.id, {}).get("weekly")),
                monthly=bool(rows.get(site.id, {}).get("monthly")),
            )
            for site, _role in (await self.sites_of(user_id))[:MAX_LISTED]
        ]

    async def set(self, user_id: str, site: StoredSite, body: SubscriptionIn) -> SubscriptionOut:
        """Save a user's choices for a site. A period already due when opting in is not sent: the first
        report covers the first full period after."""
        now = self.clock()
        current = {
            f"last_{kind}": (due.key if (due := due_period(kind, now, site.timezone)) else "")
            for kind in KINDS
        }
        rows = await self.docs.find("report_subscriptions", {"user_id": user_id, "site_id": site.id}, limit=1)
        changes = {"weekly": body.weekly, "monthly": body.monthly}
        if rows:
            for kind in KINDS:  # turned on now: skip the period that is already due
                if getattr(body, kind) and not rows[0].get(kind):
                    changes[f"last_{kind}"] = current[f"last_{kind}"]
            await self.docs.update("report_subscriptions", {"id": rows[0]["id"]}, changes)
        else:
            doc = {
                "id": new_id(),
                "user_id": user_id,
                "site_id": site.id,
                "created_at": now,
                **changes,
                **current,
            }
            try:
                await self.docs.insert("report_subscriptions", doc)
            except DuplicateKeyError:
                await self.docs.update(
                    "report_subscriptions", {"user_id": user_id, "site_id": site.id}, changes
                )
        return SubscriptionOut(site_id=site.id, site_name=site.name, **changes)  # type: ignore[arg-type]

    async def unsubscribe(self, subscription_id: str, key: str) -> None:
        """Turn off every report of a subscription (422 when the link is not genuine)."""
        # Compared as bytes: compare_digest refuses str with non-ASCII characters (any key may arrive).
        if not hmac.compare_digest(self.key_for(subscription_id).encode(), key.encode()):
            raise Invalid("This unsubscribe link is not valid.", code="invalid_token")
        await self.docs.update(
            "report_subscriptions", {"id": subscription_id}, {"weekly": False, "monthly": False}
        )

    async def send_due(self, now: float | None = None) -> int:
        """Queue every report due now that this process claims; returns how many."""
        if not self.mailer.enabled:
            return 0
        now = self.clock() if now is None else now
        sent = 0
        for kind in KINDS:
            for sub in await self.docs.find("report_subscriptions", {kind: True}):
                doc = await self.docs.get("sites", sub["site_id"])
                if doc is None:
                    continue
                site = stored_site(doc)
                period = due_period(kind, now, site.timezone)
                last = sub.get(f"last_{kind}")
                if period is None or last == period.key:
                    continue
                claimed = await self.docs.update(
                    "report_subscriptions",
                    {"id": sub["id"], f"last_{kind}": last},
                    {f"last_{kind}": period.key},
                )
                if claimed != 1:
                    continue  # another process sends it
                if await self.role_of(sub["user_id"], site) is None:
                    await self.docs.delete("report_subscriptions", {"id": sub["id"]})
                    continue
                user = await self.docs.get("users", sub["user_id"])
                if user is None:
                    continue
                mail = await self.build(site, period, sub["id"])
                api_link = f"{self.mailer.public_url}/api/v1/reports/unsubscribe?" + urllib.parse.urlencode(
                    {"id": sub["id"], "key": self.key_for(sub["id"])}
                )
                headers = {
                    "List-Unsubscribe": f"<{api_link}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                }
                await self.mailer.send(
                    user["email"], mail.subject, mail.text, mail.html, kind="report", headers=headers
                )
                sent += 1
        return sent

    async def build(self, site: StoredSite, period: Period, subscription_id: str) -> Mail:
        """The report mail of a site for a period (numbers from the stats service)."""
        params = {"from": period.first_day.isoformat(), "to": period.last_day.isoformat()}
        tz = site.timezone
        now_ms = int(self.clock() * 1000)
        summary = await self.stats.summary(site.id, parse_query(params, default_tz=tz, now_ms=now_ms))
        tops = []
        for by in ("page", "source"):
            query = parse_query(
                {**params, "by": by, "limit": str(TOP)}, default_tz=tz, now_ms=now_ms, need_by=True
            )
            tops.append((await self.stats.breakdown(site.id, query)).results)
        unsubscribe = f"{self.mailer.public_url}/unsubscribe#" + urllib.parse.urlencode(
            {"id": subscription_id, "key": self.key_for(subscription_id)}
        )
        dashboard = f"{self.mailer.public_url}/sites/{site.id}"
        return render(site, period, summary, tops[0], tops[1], dashboard, unsubscribe)
