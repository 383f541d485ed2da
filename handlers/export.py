"""`GET /api/v1/sites/{site_id}/export?format=csv|json`: a site's raw events for a range, streamed.

Events are read from the store in batches and each batch is written and flushed before the next is read,
so memory holds one batch whatever the range (no whole-result buffering). CSV cells that a spreadsheet
would run as a formula (starting with = + - @, tab or CR) are prefixed with a quote.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from typing import Annotated, Any

import msgspec
import orjson
from tornado.iostream import StreamClosedError

from domain.errors import Invalid, Unavailable
from domain.stats.filters import FILTERS_HELP
from domain.stats.query import parse_query
from handlers.access import authorized
from handlers.base import ApiHandler
from handlers.operations import documented
from handlers.routes import route
from storage.errors import StoreUnavailableError
from storage.records import EVENT_TEXT_FIELDS, Event

log = logging.getLogger("eddy.export")
BATCH = 2000
# id and time first (`ts` in epoch ms, `time` the same instant in ISO 8601 UTC for people and
# spreadsheets), then every text field in storage order, then props and traits as JSON.
COLUMNS: tuple[str, ...] = (
    "id",
    "ts",
    "time",
    *(name for name in EVENT_TEXT_FIELDS if name not in ("id", "site_id")),
    "props",
    "traits",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """A CSV cell a spreadsheet will show as text, never evaluate."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def iso_time(ms: int) -> str:
    """Epoch ms as ISO 8601 UTC with milliseconds (`2026-12-03T19:44:09.123Z`)."""
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def csv_row(event: Event) -> list[str]:
    """One event as CSV cells (props and traits as JSON)."""
    cells: list[str] = []
    for column in COLUMNS:
        value: Any = iso_time(event.ts) if column == "time" else getattr(event, column)
        if column in ("props", "traits"):
            text = orjson.dumps(value).decode() if value else ""
        else:
            text = str(value)
        cells.append(safe_cell(text))
    return cells


def csv_chunk(rows: list[list[str]]) -> bytes:
    """Rows rendered as CSV text (RFC 4180 quoting)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


def json_record(event: Event) -> dict[str, Any]:
    """One event as a JSON object with every column."""
    return {column: iso_time(event.ts) if column == "time" else getattr(event, column) for column in COLUMNS}


class ExportParams(msgspec.Struct, forbid_unknown_fields=True):
    """Query parameters of the export."""

    format: str = "csv"
    from_: str | None = msgspec.field(name="from", default=None)
    to: str | None = None
    tz: str | None = None
    filters: Annotated[str | None, msgspec.Meta(description=FILTERS_HELP)] = None


class ExportHandler(ApiHandler):
    """Stream the events of a range as CSV or a JSON array."""

    @documented(response=str, response_media="text/csv", query=ExportParams, errors=(503,))
    @authorized("site:view", secret_key=True)
    async def get(self, site_id: str) -> None:
        """Raw events of a range, streamed as CSV or a JSON array (`format`, `from`, `to`, `filters`)"""
        fmt = self.get_query_argument("format", "csv")
        if fmt not in ("csv", "json"):
            raise Invalid("unknown format", fields={"format": "csv or json"})
        params = {
            name: value
            for name in ("from", "to", "tz")
            if (value := self.get_query_argument(name, None)) is not None
        }
        filters = [*self.get_query_arguments("filters"), *self.get_query_arguments("filter")]
        query = parse_query(params, filters, default_tz=self.site.timezone, now_ms=self.ctx.stats.now_ms())
        flt = query.event_filter(self.site.id)
        batches = self.ctx.stats.read_events(flt, batch_size=BATCH)
        try:
            first = await anext(batches, None)
        except StoreUnavailableError as error:
            raise Unavailable(2.0, "the event store is unavailable") from error
        filename = f"eddy-{self.site.id}-export.{fmt}"
        self.set_header("Content-Type", "text/csv; charset=utf-8" if fmt == "csv" else "application/json")
        self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
        try:
            await self._stream(fmt, first, batches)
        except StreamClosedError:
            return  # the client went away: stop reading
        except StoreUnavailableError as error:
            # Headers are out: all we can do is cut the response short so the client sees it failed.
            log.warning("export of %s stopped: %s", self.site.id, error)
            self.request.connection.close()  # type: ignore[union-attr]
            return
        self.finish()

    async def _stream(self, fmt: str, first: list[Event] | None, batches: Any) -> None:
        if fmt == "csv":
            self.write(csv_chunk([list(COLUMNS)]))
        else:
            self.write(b"[")
        separator = b""
        batch = first
        while batch is not None:
            if fmt == "csv":
                self.write(csv_chunk([csv_row(event) for event in batch]))
            else:
                body = b",".join(orjson.dumps(json_record(event)) for event in batch)
                self.write(separator + body)
                separator = b","
            await self.flush()
            batch = await anext(batches, None)
        if fmt == "json":
            self.write(b"]")


_PATH = "/api/v1/sites/{site_id}/export"
openapi_tag = "stats"
default_handlers = [route(_PATH, ExportHandler)]
