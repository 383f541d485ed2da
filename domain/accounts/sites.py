"""Sites: create, list, read, change and delete (with everything that belongs to the site).

A site document is described by `StoredSite` (domain/accounts/site_docs.py); the service hands out sites
as that. A user sees the sites they own and those they are a member of; others' sites answer 404.

Compatibility (`compat`, off by default) lets a site take Plausible's and Umami's own trackers and server
calls (domain/compat/). Plausible traffic names the site by its domain, so at most one site per domain
(`www.` stripped) may take it; its key is kept as `plausible_domain` (indexed) while the switch is on.
Umami traffic names the site by its id or by `umami_alias` (the UUID of an existing Umami snippet's
`data-website-id`), unique across sites.
"""

from __future__ import annotations

import functools
import time
import zoneinfo
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from domain.accounts.keys import KeyAuthenticator
from domain.accounts.metric_configs import MetricConfigService
from domain.accounts.principals import Role
from domain.accounts.site_docs import Compat, StoredSite, site_document, stored_site
from domain.accounts.tokens import new_id
from domain.errors import Conflict, Forbidden, Invalid
from domain.goals.definitions import Currency, Goal, Goals, check_goals
from domain.site_items import given_changes
from storage.ports import DocumentStore, EventStore

SiteName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Domain = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=253,
        pattern=r"^(localhost|[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+)$(?!\n)",
        description="the site's host name, e.g. example.com",
    ),
]
Origin = Annotated[
    str,
    msgspec.Meta(
        max_length=300,
        pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$(?!\n)",
        description="scheme://host[:port], no path",
    ),
]
Origins = Annotated[list[Origin], msgspec.Meta(max_length=50)]
Timezone = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="an IANA time zone")]
RetentionDays = Annotated[int, msgspec.Meta(ge=1, le=3650)]
UmamiAlias = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
        description="the website id (a UUID) an existing Umami snippet sends in data-website-id",
    ),
]


# Collections whose documents belong to one site (deleted with it).
SITE_COLLECTIONS = (
    "members",
    "metric_configs",
    "alert_rules",
    "share_links",
    "invitations",
    "report_subscriptions",
    "imports",
    "imported_stats",
)


class SiteCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new site."""

    name: SiteName
    domain: Domain
    allowed_origins: Origins = []
    timezone: Timezone = "UTC"
    retention_days: RetentionDays | None = None
    compat: Compat | None = None
    umami_alias: UmamiAlias | None = None
    goals: Goals = []
    currency: Currency | None = None


class SiteUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a site; absent fields stay as they are."""

    name: SiteName | msgspec.UnsetType = msgspec.UNSET
    domain: Domain | msgspec.UnsetType = msgspec.UNSET
    allowed_origins: Origins | msgspec.UnsetType = msgspec.UNSET
    timezone: Timezone | msgspec.UnsetType = msgspec.UNSET
    retention_days: RetentionDays | msgspec.UnsetType = msgspec.UNSET
    compat: Compat | msgspec.UnsetType = msgspec.UNSET
    umami_alias: UmamiAlias | msgspec.UnsetType | None = msgspec.UNSET
    goals: Goals | msgspec.UnsetType = msgspec.UNSET
    currency: Currency | msgspec.UnsetType | None = msgspec.UNSET
    # Lowering retention deletes events for good: the change must say it means it.
    confirm: bool = False


class SiteOut(msgspec.Struct):
    """A site as the API shows it, with the caller's role on it."""

    id: str
    owner_id: str
    name: str
    domain: str
    allowed_origins: list[str]
    timezone: str
    retention_days: int
    created_at: float
    updated_at: float
    role: str
    compat: Compat = msgspec.field(default_factory=Compat)
    umami_alias: str | None = None
    goals: list[Goal] = []
    currency: str | None = None


class SiteAnswer(msgspec.Struct):
    """`{site}`."""

    site: SiteOut


class SiteList(msgspec.Struct):
    """`{sites}`."""

    sites: list[SiteOut]


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def check_timezone(name: str) -> str:
    """The name if it is a known IANA zone; Invalid otherwise."""
    if name not in _zones():
        raise Invalid("unknown time zone", fields={"timezone": "not an IANA time zone name"})
    return name


def site_out(site: StoredSite, role: Role | str) -> SiteOut:
    """The public view of a site for a caller with `role`."""
    return SiteOut(
        id=site.id,
        owner_id=site.owner_id,
        name=site.name,
        domain=site.domain,
        allowed_origins=list(site.allowed_origins),
        timezone=site.timezone or "UTC",
        retention_days=site.retention_days or 0,
        created_at=site.created_at,
        updated_at=site.created_at if site.updated_at is None else site.updated_at,
        role=role,
        compat=site.compat,
        umami_alias=site.umami_alias or None,
        goals=list(site.goals),
        currency=site.currency or None,
    )


def plausible_domain(domain: str) -> str:
    """The key Plausible traffic names a site by: the host name, lower-case, without a leading `www.`."""
    domain = domain.strip().lower()
    return domain[4:] if domain.startswith("www.") else domain


@dataclass(eq=False)
class SiteService:
    """Sites of users."""

    docs: DocumentStore
    events: EventStore
    keys: KeyAuthenticator
    max_retention_days: int
    metric_configs: MetricConfigService

    def _retention(self, days: int | None) -> int:
        if days is None:
            return self.max_retention_days
        if days > self.max_retention_days:
            raise Invalid(
                "retention is over this server's limit",
                fields={"retention_days": f"at most {self.max_retention_days}"},
            )
        return days

    async def create(self, owner_id: str, body: SiteCreate) -> StoredSite:
        """A new site owned by `owner_id`."""
        now = time.time()
        doc = {
            "id": new_id(),
            "owner_id": owner_id,
            "name": body.name.strip() or body.name,
            "domain": body.domain.lower(),
            "allowed_origins": sorted(set(body.allowed_origins)),
            "timezone": check_timezone(body.timezone),
            "retention_days": self._retention(body.retention_days),
            "compat": msgspec.to_builtins(body.compat or Compat()),
            "umami_alias": body.umami_alias.lower() if body.umami_alias else None,
            "goals": check_goals(body.goals),
            "currency": body.currency,
            "created_at": now,
            "updated_at": now,
        }
        doc.update(await self._compat_keys(stored_site(doc)))
        await self.docs.insert("sites", doc)
        return stored_site(doc)

    async def _compat_keys(self, site: StoredSite) -> dict[str, Any]:
        """The indexed lookup keys of the site's compatibility switches, refused with 409 when another site
        already holds them (Plausible traffic names a domain, Umami traffic an alias: each must lead to one
        site)."""
        key = plausible_domain(site.domain) if site.compat.plausible else None
        if key is not None:
            for other in await self.docs.find("sites", {"plausible_domain": key}, limit=2):
                if stored_site(other).id != site.id:
                    raise Conflict(
                        "another site already takes Plausible traffic for this domain",
                        code="compat_domain_taken",
                        fields={"compat.plausible": "another site takes this domain's Plausible traffic"},
                    )
        if site.umami_alias:
            for other in await self.docs.find("sites", {"umami_alias": site.umami_alias}, limit=2):
                if stored_site(other).id != site.id:
                    raise Conflict(
                        "another site already uses this Umami website id",
                        code="umami_alias_taken",
                        fields={"umami_alias": "used by another site"},
                    )
        return {"plausible_domain": key}

    async def list_for(self, user_id: str) -> list[tuple[StoredSite, str]]:
        """(site, role) for every site the user owns or is a member of, oldest first."""
        owned = [(stored_site(doc), "owner") for doc in await self.docs.find("sites", {"owner_id": user_id})]
        shared = []
        for member in await self.docs.find("members", {"user_id": user_id}):
            doc = await self.docs.get("sites", member["site_id"])
            if doc is not None:
                shared.append((stored_site(doc), member["role"]))
        return sorted(owned + shared, key=lambda pair: (pair[0].created_at, pair[0].id))

    async def update(self, site: StoredSite, body: SiteUpdate, role: str = "owner") -> StoredSite:
        """Apply the given changes (`role`: the caller's on the site); returns the site as it is now.
        Retention is the owner's alone: shortening it deletes the owner's data."""
        changes = given_changes(body, leave={"confirm"})
        if "timezone" in changes:
            check_timezone(changes["timezone"])
        if "retention_days" in changes:
            if role != "owner" and changes["retention_days"] != site.retention_days:
                raise Forbidden("only the site's owner changes its retention")
            self._retention(changes["retention_days"])
            current = site.retention_days or self.max_retention_days
            if changes["retention_days"] < current and not body.confirm:
                raise Conflict(
                    f"Lowering retention from {current} to {changes['retention_days']} days deletes every"
                    f" event older than {changes['retention_days']} days for good. Send confirm: true to"
                    " go ahead.",
                    code="confirmation_required",
                    fields={"confirm": "required to lower retention"},
                )
        if "domain" in changes:
            changes["domain"] = changes["domain"].lower()
        if "allowed_origins" in changes:
            changes["allowed_origins"] = sorted(set(changes["allowed_origins"]))
        if "compat" in changes:
            changes["compat"] = msgspec.to_builtins(changes["compat"])
        if "goals" in changes:
            changes["goals"] = check_goals(changes["goals"])
        if changes.get("umami_alias"):
            changes["umami_alias"] = changes["umami_alias"].lower()
        if {"compat", "umami_alias", "domain"} & changes.keys():
            changes.update(await self._compat_keys(stored_site({**site_document(site), **changes})))
        changes["updated_at"] = time.time()
        await self.docs.update("sites", {"id": site.id}, changes)
        return stored_site({**site_document(site), **changes})

    async def delete(self, site: StoredSite) -> None:
        """Delete a site with its keys (revoked everywhere at once), members, configs and events."""
        site_id = site.id
        keys = await self.docs.find("api_keys", {"site_id": site_id})
        await self.docs.delete("api_keys", {"site_id": site_id})
        for key in keys:
            await self.keys.revoked(key["lookup"])
        await self.events.delete_site(site_id)
        for collection in SITE_COLLECTIONS:
            await self.docs.delete(collection, {"site_id": site_id})
        await self.docs.delete("sites", {"id": site_id})
        await self.metric_configs.announce_change(site_id)
