"""Imports (site admins): `POST /api/v1/sites/{site_id}/imports?kind=umami|eddy|plausible` with the file
as the body (streamed to disk, never held in memory; at most EDDY_IMPORT_MAX_BYTES, 1 GiB by default),
answered 202 with the job; `GET .../imports` and `GET .../imports/{import_id}` show progress and the
summary (rows read, imported, already there, skipped with their line and reason). And the merged history:
`GET /api/v1/sites/{site_id}/stats/history` (domain/imports/history.py).

What each kind takes: `umami`, a zip of Umami's `website_event.csv` and `session.csv`; `eddy`, Eddy's own
export (JSON or CSV); `plausible`, Plausible CE's CSV export zip.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import IO, Any

import msgspec
from tornado.web import stream_request_body

from domain.errors import Invalid
from domain.imports.history import without_imports
from domain.imports.service import KINDS
from domain.stats.query import parse_query
from handlers.access import authorized, bearer_principal
from handlers.base import ApiHandler
from handlers.errors import ApiError
from handlers.operations import documented
from handlers.policy import declare
from handlers.routes import route

UPLOAD_BODY_TIMEOUT_S = 3600.0


class SkippedRow(msgspec.Struct):
    """A skipped row: its line (record number for JSON) and why."""

    line: int
    message: str


class ImportJob(msgspec.Struct):
    """An import: status running, done, failed or replaced (a later Plausible import took its place)."""

    id: str
    site_id: str
    user_id: str
    kind: str
    status: str
    phase: str
    rows_read: int
    rows_imported: int
    rows_duplicate: int
    rows_skipped: int
    errors: list[SkippedRow]
    message: str
    summary: dict[str, Any]
    created_at: float
    updated_at: float
    finished_at: float | None


class ImportAnswer(msgspec.Struct):
    """`{import}`."""

    import_: ImportJob = msgspec.field(name="import")


class ImportList(msgspec.Struct):
    """`{imports}`, newest first."""

    imports: list[ImportJob]


class ImportQuery(msgspec.Struct):
    """What the body is."""

    kind: str


class HistoryQuery(msgspec.Struct, omit_defaults=True):
    """The range, as for every stats query; `if_imported=true` answers no days (scanning nothing) when
    the site has no finished Plausible import (the dashboard asks so)."""

    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    tz: str | None = None
    if_imported: bool | None = None


class HistoryAnswer(msgspec.Struct):
    """Days (each flagged imported or not), totals and tops over the range."""

    site_id: str
    from_: str = msgspec.field(name="from")
    to: str
    tz: str
    import_id: str | None
    imported_days: int
    totals: dict[str, int]
    days: list[dict[str, Any]]
    top_pages: list[dict[str, Any]]
    top_sources: list[dict[str, Any]]


@stream_request_body
class ImportsHandler(ApiHandler):
    """Start an import (the body is the file) or list the site's imports."""

    async def prepare(self) -> None:
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        if self.request.method != "POST":
            super().prepare()
            return
        # Who may upload is settled before the body is read (what post declares, checked here):
        # nobody else's bytes reach the disk.
        self.principal = await bearer_principal(self)
        self.site = await self.site_for(self.path_args[0], "admin")
        self.kind = self.get_query_argument("kind", "")
        if self.kind not in KINDS:
            raise Invalid("unknown import kind", fields={"kind": "umami, eddy or plausible"})
        self.max_body_bytes = self.ctx.config.import_max_bytes
        super().prepare()
        connection: Any = self.request.connection
        if hasattr(connection, "set_body_timeout"):
            connection.set_body_timeout(UPLOAD_BODY_TIMEOUT_S)
        path = self.ctx.imports.upload_path()
        loop = asyncio.get_running_loop()
        self._file = await loop.run_in_executor(None, path.open, "wb")
        self._path = path

    async def data_received(self, chunk: bytes) -> None:
        if self._file is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._file.write, chunk)

    def on_finish(self) -> None:
        self._discard()

    def on_connection_close(self) -> None:
        self._discard()
        super().on_connection_close()

    def _discard(self) -> None:
        """An upload that did not become an import is deleted."""
        file, path = getattr(self, "_file", None), getattr(self, "_path", None)
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()
            self._file = None
        if path is not None:
            self._path = None
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)

    @documented(
        query=ImportQuery,
        response=ImportAnswer,
        status=202,
        errors=(403, 404, 409, 413, 503),
        request_media=("application/octet-stream",),
    )
    @declare("bearer", "site:admin")  # checked in prepare, before the body
    async def post(self, site_id: str) -> None:
        """Import a file: Umami's tables, Eddy's export or Plausible's export (admin)

        The body is the file (`kind=umami`: a zip of website_event.csv and session.csv; `eddy`: Eddy's JSON
        or CSV export; `plausible`: Plausible CE's CSV export zip). Answered at once with the job; follow
        it at /imports/{import_id}."""
        assert self._file is not None and self._path is not None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._file.close)
        self._file = None
        if (await loop.run_in_executor(None, self._path.stat)).st_size == 0:
            raise ApiError(400, "empty_upload", "The upload is empty: send the file as the request body.")
        path, self._path = self._path, None  # the import owns the file now
        job = await self.ctx.imports.begin(self.site.id, self.principal.user_id, self.kind, path)
        self.write_json({"import": job}, 202)

    @documented(response=ImportList)
    @authorized("site:admin")
    async def get(self, site_id: str) -> None:
        """The site's imports (admin)"""
        self.write_json({"imports": await self.ctx.imports.list(self.site.id)})


class ImportHandler(ApiHandler):
    """One import's progress and summary."""

    @documented(response=ImportAnswer)
    @authorized("site:admin")
    async def get(self, site_id: str, import_id: str) -> None:
        """One import's progress and summary (admin)"""
        self.write_json({"import": await self.ctx.imports.get(self.site.id, import_id)})


class HistoryHandler(ApiHandler):
    """Days, totals, top pages and sources with imported days merged in."""

    @documented(tag="stats", query=HistoryQuery, response=HistoryAnswer)
    @authorized("site:view", secret_key=True)
    async def get(self, site_id: str) -> None:
        """Daily history with imported Plausible days merged in

        A day with live events shows them; a day without any shows the imported numbers (`imported: true`):
        never both."""
        params = {
            k: v[:64] for k in ("from", "to", "tz") if (v := self.get_query_argument(k, None)) is not None
        }
        query = parse_query(params, default_tz=self.site.timezone, now_ms=self.ctx.stats.now_ms())
        import_id = await self.ctx.imports.latest_plausible(self.site.id)
        if import_id is None and self.get_query_argument("if_imported", "") == "true":
            self.write_json({"site_id": self.site.id, **without_imports(query.start, query.end, query.tz)})
            return
        answer = await self.ctx.imports.history(self.site.id, import_id, query.start, query.end, query.tz)
        self.write_json({"site_id": self.site.id, **answer})


_SITE = "/api/v1/sites/{site_id}"
openapi_tag = "imports"
default_handlers = [
    route(f"{_SITE}/imports", ImportsHandler),
    route(f"{_SITE}/imports/{{import_id}}", ImportHandler),
    route(f"{_SITE}/stats/history", HistoryHandler),
]
