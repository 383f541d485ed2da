"""Where a visit came from: referrer → source name, `utm_*` and ad click ids from the page URL, and the
spam-referrer list (referrer spam is dropped, never stored)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

# Known referrer hosts (without "www.") → the source name shown in reports. Unlisted hosts are their own
# source (their host name).
KNOWN_SOURCES: dict[str, str] = {
    "google.com": "Google",
    "bing.com": "Bing",
    "duckduckgo.com": "DuckDuckGo",
    "search.yahoo.com": "Yahoo",
    "yandex.ru": "Yandex",
    "yandex.com": "Yandex",
    "baidu.com": "Baidu",
    "ecosia.org": "Ecosia",
    "search.brave.com": "Brave Search",
    "facebook.com": "Facebook",
    "m.facebook.com": "Facebook",
    "l.facebook.com": "Facebook",
    "lm.facebook.com": "Facebook",
    "instagram.com": "Instagram",
    "l.instagram.com": "Instagram",
    "t.co": "Twitter",
    "twitter.com": "Twitter",
    "x.com": "Twitter",
    "linkedin.com": "LinkedIn",
    "lnkd.in": "LinkedIn",
    "reddit.com": "Reddit",
    "old.reddit.com": "Reddit",
    "news.ycombinator.com": "Hacker News",
    "youtube.com": "YouTube",
    "m.youtube.com": "YouTube",
    "github.com": "GitHub",
    "pinterest.com": "Pinterest",
    "tiktok.com": "TikTok",
    "chatgpt.com": "ChatGPT",
    "perplexity.ai": "Perplexity",
}
# Country search domains (google.de, google.co.uk...) fold into the engine.
_ENGINE_PREFIXES = {"google.": "Google", "bing.": "Bing", "yandex.": "Yandex"}
# Ad click ids → the network they identify (the id value itself is not stored).
CLICK_IDS: dict[str, str] = {
    "gclid": "Google Ads",
    "gbraid": "Google Ads",
    "wbraid": "Google Ads",
    "msclkid": "Microsoft Ads",
    "fbclid": "Facebook",
    "ttclid": "TikTok",
    "twclid": "Twitter",
    "li_fat_id": "LinkedIn",
    "yclid": "Yandex",
}
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# Referrer spam: hosts (and their subdomains) that fake visits to advertise themselves.
SPAM_REFERRERS = frozenset(
    {
        "semalt.com",
        "buttons-for-website.com",
        "buttons-for-your-website.com",
        "darodar.com",
        "best-seo-offer.com",
        "best-seo-solution.com",
        "free-social-buttons.com",
        "get-free-traffic-now.com",
        "ilovevitaly.com",
        "priceg.com",
        "hulfingtonpost.com",
        "blackhatworth.com",
        "econom.co",
        "savetubevideo.com",
        "kambasoft.com",
        "7makemoneyonline.com",
        "trafficmonetize.com",
        "success-seo.com",
        "simple-share-buttons.com",
        "floating-share-buttons.com",
        "traffic2money.com",
        "sharebutton.net",
    }
)
MAX_UTM_LENGTH = 128


@dataclass(frozen=True, slots=True)
class PageUrl:
    """The parts of a page URL Eddy keeps."""

    hostname: str
    path: str
    utm: tuple[str, str, str, str, str]
    click_source: str


def host_of(url: str) -> str:
    """The lower-cased host of an http(s) URL without a leading "www.", or ""."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def is_spam(referrer_host: str) -> bool:
    """True when the referrer host (or a parent domain of it) is on the spam list."""
    host = referrer_host
    while host:
        if host in SPAM_REFERRERS:
            return True
        _, _, host = host.partition(".")
        if "." not in host:
            return False
    return False


def source_name(referrer_host: str) -> str:
    """The source shown for a referrer host ("" for none)."""
    if not referrer_host:
        return ""
    known = KNOWN_SOURCES.get(referrer_host)
    if known:
        return known
    for prefix, name in _ENGINE_PREFIXES.items():
        if referrer_host.startswith(prefix):
            return name
    return referrer_host


def parse_page_url(url: str) -> PageUrl:
    """Host, path, utm_* values and the ad network of a click id, from an http(s) page URL."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").removeprefix("www.")
    except ValueError:
        return PageUrl("", "", ("", "", "", "", ""), "")
    utm = ["", "", "", "", ""]
    click_source = ""
    if parts.query:
        for name, value in parse_qsl(parts.query, keep_blank_values=False):
            if name.startswith("utm_") and name in UTM_FIELDS:
                utm[UTM_FIELDS.index(name)] = value[:MAX_UTM_LENGTH]
            elif name in CLICK_IDS and not click_source:
                click_source = CLICK_IDS[name]
    return PageUrl(host, parts.path or "/", tuple(utm), click_source)  # type: ignore[arg-type]
