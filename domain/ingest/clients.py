"""What a user agent says about the client: browser, OS, device type and whether it is a bot.

ua-parser with its bundled regexes and the Rust resolver (`ua-parser-rs`) behind ua-parser's
CachingResolver; bots are ua-parser's "Spider" device family or a match in the crawler-user-agents
pattern list (which is slow, ~200 µs, so whole answers are cached per user-agent string).
"""

from __future__ import annotations

import asyncio
import functools
import re
from dataclasses import dataclass

import crawleruseragents
from ua_parser import CachingResolver, Parser, load_builtins, regex
from ua_parser.caching import S3Fifo

MAX_UA_LENGTH = 512
CACHE_ENTRIES = 4096
# Automation that the crawler list misses; browsers never say these.
_EXTRA_BOTS = re.compile(
    r"headless|phantomjs|python-|curl/|wget/|go-http-client|okhttp|java/|httpclient", re.I
)
_TABLET = re.compile(r"ipad|tablet|kindle|silk/|playbook|(android(?!.*mobile))", re.I)
_MOBILE = re.compile(r"mobi|iphone|ipod|android|windows phone|blackberry|opera mini", re.I)


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """The enrichment a user agent gives."""

    browser: str
    os: str
    device: str  # desktop, mobile, tablet, bot or "" when unknown
    bot: bool


@functools.cache
def _parser() -> Parser:
    # Compiling the bundled regexes takes ~0.3 s; done once per process and shared by every context.
    return Parser(CachingResolver(regex.Resolver(load_builtins()), S3Fifo(CACHE_ENTRIES)))


class ClientClassifier:
    """Classifies user agents, caching whole answers (bounded)."""

    def __init__(self, cache_entries: int = CACHE_ENTRIES) -> None:
        self._cache: dict[str, ClientInfo] = {}
        self._cache_entries = cache_entries

    async def load(self) -> None:
        """Compile the regexes off the IOLoop."""
        await asyncio.get_running_loop().run_in_executor(None, _parser)
        await asyncio.get_running_loop().run_in_executor(None, crawleruseragents.is_crawler, "warm-up")

    def classify(self, user_agent: str) -> ClientInfo:
        """The client a user-agent string describes."""
        user_agent = user_agent[:MAX_UA_LENGTH]
        info = self._cache.get(user_agent)
        if info is None:
            info = self._classify(user_agent)
            if len(self._cache) >= self._cache_entries:
                self._cache.clear()  # crude but bounded; real traffic has few distinct agents
            self._cache[user_agent] = info
        return info

    @staticmethod
    def _classify(user_agent: str) -> ClientInfo:
        if not user_agent:
            return ClientInfo("", "", "", True)  # browsers always send one
        parsed = _parser().parse(user_agent)
        browser = parsed.user_agent.family if parsed.user_agent else ""
        os_name = parsed.os.family if parsed.os else ""
        device_family = parsed.device.family if parsed.device else ""
        bot = (
            device_family == "Spider"
            or _EXTRA_BOTS.search(user_agent) is not None
            or crawleruseragents.is_crawler(user_agent)
        )
        if bot:
            device = "bot"
        elif _TABLET.search(user_agent):
            device = "tablet"
        elif _MOBILE.search(user_agent):
            device = "mobile"
        else:
            device = "desktop"
        return ClientInfo(
            "" if browser == "Other" else browser, "" if os_name == "Other" else os_name, device, bot
        )
