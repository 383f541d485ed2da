"""The dashboard (webui/): its static files under `/assets/`, and `index.html` for the app's own routes.

- `GET /assets/<path>`: files of webui/ with ETags. The app's modules import each other by fixed names,
  so they are revalidated on every load (`no-cache`, answered 304 while unchanged); the vendored chart
  library is cached for a day.
- A GET or HEAD of one of the app's own pages (`/`, `/login`, `/register`, `/share`, `/sites/...`: the
  routes of webui/js/app.js) answers `index.html`, whose router draws the page. Every other path no
  route matches keeps the JSON 404, API or not (so a typo under `/api/` never looks like a page).
Both carry the security headers of BaseHandler, including the CSP that forbids inline script and style.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path

from tornado.web import HTTPError

from handlers.base import NotFoundHandler
from handlers.openapi import DocsAssetHandler

WEBUI_DIR = Path(__file__).resolve().parent.parent / "webui"
INDEX_PATH = WEBUI_DIR / "index.html"
# The client-side routes of webui/js/app.js: these paths answer the app's page.
APP_ROUTES = re.compile(
    r"^/(?:|login/?|register/?|share/?|sites/?|sites/new/?|forgot/?|reset/?|verify/?|unsubscribe/?|invite/?"
    r"|account/?|admin/?"
    r"|sites/[A-Za-z0-9_-]{1,64}(?:/(?:live|history|keys|metrics|snippet|members|share|imports|settings))?/?)$"
)
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
}
VENDOR_MAX_AGE_S = 86400


@functools.lru_cache(maxsize=4)
def _index(path: str, mtime_ns: int) -> tuple[bytes, str]:
    """index.html and its ETag, read again only when the file changes (keyed by its mtime)."""
    body = Path(path).read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def index_page() -> tuple[bytes, str]:
    """The dashboard's index.html (bytes, ETag)."""
    return _index(str(INDEX_PATH), os.stat(INDEX_PATH).st_mtime_ns)


def is_page_path(path: str) -> bool:
    """Whether a path is one of the app's pages (answered with index.html)."""
    return len(path) <= 200 and APP_ROUTES.match(path) is not None


class AssetHandler(DocsAssetHandler):
    """`/assets/<path>`: the dashboard's scripts, styles and vendored files (public GET and HEAD, with
    the security headers, like the API docs' assets)."""

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        checked = super().validate_absolute_path(root, absolute_path)  # 403 outside root, 404 missing
        # No dotfiles (editor droppings, .gitignore) even though webui/ holds only public files.
        if any(part.startswith(".") for part in Path(absolute_path).relative_to(root).parts):
            raise HTTPError(404)
        return checked

    def get_content_type(self) -> str:
        suffix = Path(self.absolute_path or "").suffix.lower()
        # Exact types matter: with nosniff a module script served as text/plain would not run.
        return CONTENT_TYPES.get(suffix) or super().get_content_type()

    def set_extra_headers(self, path: str) -> None:
        if path.startswith("vendor/"):
            self.set_header("Cache-Control", f"public, max-age={VENDOR_MAX_AGE_S}")
        else:
            self.set_header("Cache-Control", "no-cache")


class AppFallbackHandler(NotFoundHandler):
    """The default handler: the app's page for GETs of its routes, the JSON 404 for everything else."""

    def prepare(self) -> None:
        if self.request.method in ("GET", "HEAD") and is_page_path(self.request.path):
            body, etag = index_page()
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.set_header("Cache-Control", "no-cache")
            self.set_header("Etag", etag)
            if self.check_etag_header():
                self.set_status(304)
                self.finish()
                return
            self.finish(body if self.request.method == "GET" else None)
            return
        super().prepare()


default_handlers = [
    (r"/assets/(.+)", AssetHandler, {"path": str(WEBUI_DIR)}),
]
