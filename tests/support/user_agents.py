"""User agents the browser tests present."""

from __future__ import annotations

# A desktop Chrome user agent: headless Chromium announces "HeadlessChrome", which Eddy counts as a bot.
DESKTOP_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
)
