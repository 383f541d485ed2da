"""Alert mails: a rule with `email_team` mails each change of state (firing, resolved) to the site's owner
and admins, through the outbox (domain/mail). Without mail configured the change is only logged."""

from __future__ import annotations

import html
import logging
from typing import Any

from domain.accounts.site_docs import StoredSite, stored_site
from domain.mail.outbox import Mailer
from domain.mail.templates import Mail
from storage.ports import DocumentStore

log = logging.getLogger("eddy.alerts")


def alert_mail(site: StoredSite, rule: dict[str, Any], status: str, value: float, dashboard: str) -> Mail:
    """The mail for one change of state."""
    verb = "is firing" if status == "firing" else "is resolved"
    subject = f"[{site.name}] alert {rule['name']} {verb}"
    lines = [
        f"The alert rule {rule['name']} of {site.name} {verb}.",
        f"Condition: {rule['kind']} {rule['threshold']:g} over {rule['window_minutes']} minutes; "
        f"measured value: {value:g}.",
    ]
    text = "\n\n".join([*lines, dashboard]) + "\n"
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    page = (
        '<!doctype html><html><body style="font-family:system-ui,sans-serif">'
        f'{body}<p><a href="{html.escape(dashboard, quote=True)}">Open the dashboard</a></p></body></html>'
    )
    return Mail(subject, text, page)


class AlertMailer:
    """Sends alert mails to a site's owner and admins."""

    def __init__(self, docs: DocumentStore, mailer: Mailer) -> None:
        self._docs = docs
        self._mailer = mailer

    async def recipients(self, site: StoredSite) -> list[str]:
        """The owner's and the admins' addresses."""
        ids = [site.owner_id] + [
            member["user_id"]
            for member in await self._docs.find("members", {"site_id": site.id, "role": "admin"})
        ]
        addresses = []
        for user_id in ids:
            user = await self._docs.get("users", user_id)
            if user is not None:
                addresses.append(user["email"])
        return addresses

    async def notify(self, rule: dict[str, Any], status: str, value: float, _now: float) -> None:
        """Queue the mail of a change of state for every recipient."""
        if not self._mailer.enabled:
            log.info("alert %s %s: not mailed, mail is not configured", rule["id"], status)
            return
        doc = await self._docs.get("sites", rule["site_id"])
        if doc is None:
            return
        site = stored_site(doc)
        mail = alert_mail(site, rule, status, value, f"{self._mailer.public_url}/sites/{site.id}")
        for address in await self.recipients(site):
            await self._mailer.send(address, mail.subject, mail.text, mail.html, kind="alert")
