"""Alert rules (`alert_rules` documents) and their management.

A document: {id, site_id, name, kind, threshold, window_minutes, webhook_url, secret, enabled, state
("ok" | "firing"), last_value, last_checked_at, last_fired_at, check_slot, created_at, updated_at}.

Kinds (the value is measured over the last `window_minutes`):
- `visitors_above` / `visitors_below`: distinct visitors;
- `events_above` / `events_below`: events;
- `event_rate_drop`: events compared with the window before; fires when they fell by `threshold` percent
  or more (and the window before had events).

Webhook URLs must be http or https with a host, no credentials in them, at most 2,000 characters.
SSRF: a site admin chooses where Eddy sends POSTs. Webhooks connect only to public addresses (checked on
the resolved addresses at every connection: domain/alerts/egress.py; `EDDY_WEBHOOK_ALLOW` lets an
operator allow internal networks); a host that resolves only to refused addresses is refused at
creation too (422). A request can do little anyway: a fixed JSON body, no redirects followed, short
timeouts, and the receiver's answer is never shown; the rule's `last_delivery` tells its site's admins
how the last delivery ended (outcome, status, attempts), and `/metrics` carries no outcome.

With `email_team` a change of state is also mailed to the site's owner and admins (domain/alerts/email.py).

The signing secret is generated at creation, shown once in the create answer, and kept so Eddy can sign.
"""

from __future__ import annotations

import secrets
import time
import urllib.parse
from typing import Annotated, Any, Literal

import msgspec

from domain.accounts.tokens import new_id
from domain.alerts.egress import EgressPolicy, RefusedTarget, check_target
from domain.errors import Conflict, Invalid
from domain.site_items import site_item
from storage.ports import DocumentStore

AlertKind = Literal["visitors_above", "visitors_below", "events_above", "events_below", "event_rate_drop"]
MAX_RULES_PER_SITE = 50
MAX_URL_LENGTH = 2000
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Threshold = Annotated[float, msgspec.Meta(ge=0, le=1e12)]
Window = Annotated[int, msgspec.Meta(ge=1, le=1440)]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_URL_LENGTH)]


class AlertRuleCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new rule."""

    name: Name
    kind: AlertKind
    threshold: Threshold
    webhook_url: Url
    window_minutes: Window = 5
    enabled: bool = True
    email_team: bool = False


class AlertRulePatch(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a rule; absent fields stay as they are."""

    name: Name | None = None
    kind: AlertKind | None = None
    threshold: Threshold | None = None
    webhook_url: Url | None = None
    window_minutes: Window | None = None
    enabled: bool | None = None
    email_team: bool | None = None


class DeliveryView(msgspec.Struct):
    """How the rule's last webhook delivery ended (for the site's admins)."""

    at: float
    outcome: Literal["delivered", "failed", "refused"]
    status: int
    attempts: int


class AlertRuleView(msgspec.Struct):
    """A rule as the API shows it (never the secret, except `secret` on creation)."""

    id: str
    site_id: str
    name: str
    kind: str
    threshold: float
    window_minutes: int
    webhook_url: str
    enabled: bool
    state: str
    last_value: float | None
    last_checked_at: float | None
    last_fired_at: float | None
    created_at: float
    updated_at: float
    secret: str | None = None
    last_delivery: DeliveryView | None = None
    email_team: bool = False


def check_webhook_url(url: str) -> str:
    """The URL if it is an acceptable webhook target; raises Invalid otherwise."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise Invalid("not a valid URL", fields={"webhook_url": "not a valid URL"}) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("webhooks must be http(s) URLs", fields={"webhook_url": "must be an http(s) URL"})
    if parts.username or parts.password:
        raise Invalid("no credentials in webhook URLs", fields={"webhook_url": "remove the credentials"})
    if any(c.isspace() for c in url):
        raise Invalid("no spaces in webhook URLs", fields={"webhook_url": "must not contain spaces"})
    return url


def view(doc: dict[str, Any], *, with_secret: bool = False) -> AlertRuleView:
    """The API shape of a rule document."""
    return AlertRuleView(
        id=doc["id"],
        site_id=doc["site_id"],
        name=doc["name"],
        kind=doc["kind"],
        threshold=float(doc["threshold"]),
        window_minutes=int(doc["window_minutes"]),
        webhook_url=doc["webhook_url"],
        enabled=bool(doc["enabled"]),
        state=doc.get("state") or "ok",
        last_value=doc.get("last_value"),
        last_checked_at=doc.get("last_checked_at"),
        last_fired_at=doc.get("last_fired_at"),
        created_at=float(doc["created_at"]),
        updated_at=float(doc["updated_at"]),
        secret=doc["secret"] if with_secret else None,
        last_delivery=msgspec.convert(doc["last_delivery"], DeliveryView)
        if doc.get("last_delivery")
        else None,
        email_team=bool(doc.get("email_team")),
    )


class AlertRules:
    """Create, read, change and delete a site's rules."""

    def __init__(self, docs: DocumentStore, egress: EgressPolicy | None = None) -> None:
        self._docs = docs
        self.egress = egress or EgressPolicy()

    async def _check_target(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            await check_target(self.egress, parts.hostname or "", port)
        except RefusedTarget:
            raise Invalid(
                "webhooks may not reach internal addresses",
                fields={"webhook_url": "resolves to an internal address (loopback, private, link-local...)"},
            ) from None

    async def list(self, site_id: str) -> list[dict[str, Any]]:
        """The site's rules, oldest first."""
        return await self._docs.find("alert_rules", {"site_id": site_id}, sort="created_at")

    async def get(self, site_id: str, rule_id: str) -> dict[str, Any]:
        """One rule of the site; NotFound for another site's rule."""
        return await site_item(self._docs, "alert_rules", site_id, rule_id, "no such alert rule")

    async def create(self, site_id: str, data: AlertRuleCreate) -> dict[str, Any]:
        """A new rule with a fresh signing secret."""
        check_webhook_url(data.webhook_url)
        await self._check_target(data.webhook_url)
        if await self._docs.count("alert_rules", {"site_id": site_id}) >= MAX_RULES_PER_SITE:
            raise Conflict(f"a site has at most {MAX_RULES_PER_SITE} alert rules", code="too_many_rules")
        now = time.time()
        doc: dict[str, Any] = {
            "id": new_id(),
            "site_id": site_id,
            **msgspec.to_builtins(data),
            "secret": "whsec_" + secrets.token_urlsafe(32),
            "state": "ok",
            "last_value": None,
            "last_checked_at": None,
            "last_fired_at": None,
            "check_slot": 0,
            "created_at": now,
            "updated_at": now,
        }
        await self._docs.insert("alert_rules", doc)
        return doc

    async def update(self, site_id: str, rule_id: str, patch: AlertRulePatch) -> dict[str, Any]:
        """Apply the given fields; a changed condition starts again from `ok`."""
        doc = await self.get(site_id, rule_id)
        changes = {k: v for k, v in msgspec.to_builtins(patch).items() if v is not None}
        if "webhook_url" in changes:
            check_webhook_url(changes["webhook_url"])
            await self._check_target(changes["webhook_url"])
        if {"kind", "threshold", "window_minutes"} & changes.keys():
            changes["state"] = "ok"
        changes["updated_at"] = time.time()
        await self._docs.update("alert_rules", {"id": rule_id, "site_id": site_id}, changes)
        return {**doc, **changes}

    async def delete(self, site_id: str, rule_id: str) -> None:
        """Remove a rule of the site."""
        await self.get(site_id, rule_id)
        await self._docs.delete("alert_rules", {"id": rule_id, "site_id": site_id})
