"""Snippet generation: the `<script>` tag a site owner pastes into their pages.

The tag loads Eddy's tracker from a versioned URL and configures it with data-* attributes only (no
inline code), so it works on pages with a strict Content-Security-Policy (`script-src` naming Eddy's
origin, `connect-src` its http(s) and ws(s) origins). It carries the site's *public* key value: secret
keys must never reach a page, so they are refused, as are keys of other sites and keys that no longer
work. Metric names to pre-declare must be the site's metric configs.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

from domain.accounts.site_docs import StoredSite
from domain.errors import BadRequest, Invalid, NotFound
from storage.ports import DocumentStore

MetricName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


class SnippetOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What the tracker does on the page (defaults are the tracker's own). `auto_pageviews: false` means
    the page sends its views itself (`eddy('pageview')`), SPA navigation included."""

    auto_pageviews: bool = True
    spa: Literal["history", "hash", "off"] = "history"
    outbound_links: bool = True
    downloads: bool = True
    custom_events: bool = True
    engagement: bool = True
    metrics: Annotated[list[MetricName], msgspec.Meta(max_length=50)] = []
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    batch_interval_ms: Annotated[int, msgspec.Meta(ge=100, le=60_000)] = 1000
    respect_dnt: bool = True
    allow_localhost: bool = False
    allow_automated: bool = False


class SnippetRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The body of POST /api/v1/sites/{site_id}/snippet."""

    key_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    transport: Literal["auto", "websocket", "beacon"] = "auto"
    options: SnippetOptions = msgspec.field(default_factory=SnippetOptions)
    # Subresource Integrity pins the tag to this exact tracker build: the browser refuses any other
    # bytes, so the snippet must be regenerated after each Eddy upgrade (off by default for that reason).
    integrity: bool = False


class Snippet(msgspec.Struct):
    """The answer: the tag to paste and the tracker's URL in it."""

    snippet: str
    tracker_url: str


DEFAULTS = SnippetOptions()


def base_url(public_url: str | None, protocol: str, host: str) -> str:
    """Eddy's base URL as pages reach it: the configured public URL, else the request's scheme and host."""
    if public_url:
        return public_url.rstrip("/")
    if protocol not in ("http", "https") or not _HOST.fullmatch(host):
        raise BadRequest(
            "cannot tell Eddy's address from this request's Host: set --public-url", code="bad_host"
        )
    return f"{protocol}://{host}"


def attributes(request: SnippetRequest) -> dict[str, str]:
    """The tracker's data-* attributes for these options (only those that differ from its defaults)."""
    options = request.options
    attrs: dict[str, str] = {}
    if request.transport != "auto":
        attrs["data-transport"] = request.transport
    flags = (
        ("data-auto", options.auto_pageviews, DEFAULTS.auto_pageviews),
        ("data-outbound", options.outbound_links, DEFAULTS.outbound_links),
        ("data-downloads", options.downloads, DEFAULTS.downloads),
        ("data-events", options.custom_events, DEFAULTS.custom_events),
        ("data-engagement", options.engagement, DEFAULTS.engagement),
        ("data-dnt", options.respect_dnt, DEFAULTS.respect_dnt),
        ("data-localhost", options.allow_localhost, DEFAULTS.allow_localhost),
        ("data-automated", options.allow_automated, DEFAULTS.allow_automated),
    )
    for name, value, default in flags:
        if value != default:
            attrs[name] = "1" if value else "0"
    # Without automatic pageviews the page sends every view itself, SPA navigation included.
    spa = options.spa if options.auto_pageviews else "off"
    if spa != DEFAULTS.spa:
        attrs["data-spa"] = spa
    if options.batch_size != DEFAULTS.batch_size:
        attrs["data-batch"] = str(options.batch_size)
    if options.batch_interval_ms != DEFAULTS.batch_interval_ms:
        attrs["data-interval"] = str(options.batch_interval_ms)
    if options.metrics:
        attrs["data-metrics"] = ",".join(dict.fromkeys(options.metrics))
    return attrs


def render(tracker_url: str, key_value: str, attrs: dict[str, str], integrity: str | None = None) -> str:
    """The `<script>` tag, every attribute value HTML-escaped; with `integrity`, an SRI-pinned one (SRI
    needs a CORS fetch, hence `crossorigin`; /t.js answers it without credentials)."""
    parts = [f'src="{html.escape(tracker_url)}"']
    if integrity:
        parts += [f'integrity="{html.escape(integrity)}"', 'crossorigin="anonymous"']
    parts.append(f'data-key="{html.escape(key_value)}"')
    parts += [f'{name}="{html.escape(value)}"' for name, value in attrs.items()]
    return f"<script defer {' '.join(parts)}></script>"


async def public_key_value(docs: DocumentStore, site_id: str, key_id: str, now: float) -> str:
    """The value of the site's public key `key_id`, if it can go in a page (NotFound for another site's
    key, Invalid for a secret, disabled or expired one)."""
    doc: dict[str, Any] | None = await docs.get("api_keys", key_id)
    if doc is None or doc.get("site_id") != site_id:
        raise NotFound("no such key for this site", code="key_not_found")
    if doc.get("kind") != "public" or not doc.get("value"):
        raise Invalid(
            "secret keys never go in a page: use a public key",
            code="secret_key_refused",
            fields={"key_id": "not a public key"},
        )
    expires_at = doc.get("expires_at")
    if not doc.get("active") or (expires_at is not None and expires_at <= now):
        raise Invalid("this key is disabled or expired", code="key_inactive", fields={"key_id": "inactive"})
    return str(doc["value"])


async def check_metrics(docs: DocumentStore, site_id: str, names: list[str]) -> None:
    """Every name must be one of the site's metric configs (Invalid naming the others)."""
    if not names:
        return
    known = {str(doc.get("name")) for doc in await docs.find("metric_configs", {"site_id": site_id})}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise Invalid(
            f"not metrics of this site: {', '.join(unknown)}",
            code="unknown_metric",
            fields={"options.metrics": "unknown: " + ", ".join(unknown)},
        )


async def make_snippet(
    docs: DocumentStore,
    site: StoredSite,
    request: SnippetRequest,
    base: str,
    version: str,
    integrity: str,
) -> Snippet:
    """The snippet for `site` with these options, loading the tracker build `version` from `base`
    (`integrity`: that build's SRI value, used when the request asks for it)."""
    value = await public_key_value(docs, site.id, request.key_id, time.time())
    await check_metrics(docs, site.id, request.options.metrics)
    tracker_url = f"{base}/t.js?v={version}"
    pinned = integrity if request.integrity else None
    return Snippet(render(tracker_url, value, attributes(request), pinned), tracker_url)


@dataclass(frozen=True)
class Snippets:
    """Builds sites' snippets from their keys and metric configs in this process's document store."""

    docs: DocumentStore

    async def make(
        self, site: StoredSite, request: SnippetRequest, base: str, version: str, integrity: str
    ) -> Snippet:
        """The snippet for `site` with these options (see `make_snippet`)."""
        return await make_snippet(self.docs, site, request, base, version, integrity)
