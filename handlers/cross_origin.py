"""`CrossOriginHandler`: the base of the ingestion endpoints that any web page may call (CORS `*`, never
with credentials: a key or the site's own origin check decides what is taken), with their preflight."""

from __future__ import annotations

from tornado import httputil

from domain.ingest.enrich import Sender
from handlers.base import ApiHandler
from handlers.policy import public

Headers = tuple[tuple[str, str], ...]


def preflight(allow_headers: str, max_age_s: int = 86400) -> Headers:
    """The answer headers of a CORS preflight for POST requests that may send `allow_headers`."""
    return (
        ("Access-Control-Allow-Methods", "POST, OPTIONS"),
        ("Access-Control-Allow-Headers", allow_headers),
        ("Access-Control-Max-Age", str(max_age_s)),
    )


def sender_of(headers: httputil.HTTPHeaders, remote_ip: str | None) -> Sender:
    """Who sent a request, as the ingestion pipeline sees it: address, user agent and origin."""
    return Sender(ip=remote_ip or "", user_agent=headers.get("User-Agent", ""), origin=headers.get("Origin"))


class CrossOriginHandler(ApiHandler):
    """An API handler open to every origin: `cors_headers` on every answer (errors too, so a tracker can
    read why it was refused), and OPTIONS answered 204 with `preflight_headers`."""

    cors_headers: Headers = (("Access-Control-Allow-Origin", "*"),)
    preflight_headers: Headers = preflight("Content-Type")

    def set_default_headers(self) -> None:
        super().set_default_headers()
        for name, value in self.cors_headers:
            self.set_header(name, value)

    @public
    def options(self) -> None:
        for name, value in self.preflight_headers:
            self.set_header(name, value)
        self.no_content()

    def sender(self) -> Sender:
        """Who sent this request (see `sender_of`)."""
        return sender_of(self.request.headers, self.request.remote_ip)
