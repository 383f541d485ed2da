"""Import jobs: a site admin uploads a file, the import runs in the background, its progress and summary
are kept in the `imports` collection.

Two passes, so that a file that cannot be used leaves nothing behind: the first reads the whole file into
an on-disk spool (checking every row: bad rows are skipped and reported by line; an unusable file fails
the import here, with nothing written), the second writes the spool out.
- Events (Umami, Eddy's export): day by day, in time order, through the EventStore port's `append`, in
  batches of BATCH; ids already stored for that day (read back through `read`) are left out, so a
  re-import (any time later, not only within the store's own 48-hour dedupe window) changes nothing.
  Should the store fail mid-way, the job fails naming how many events were stored; importing the same
  file again completes it without duplicates.
- Plausible aggregates: documents of this import in `imported_stats`, visible only once the import is
  done (the history answer reads the latest finished Plausible import); a failure deletes what this
  import wrote, and a finished import replaces the previous one, so a re-import changes nothing.

One import per site runs at a time (409 for a second), MAX_RUNNING per process (503 past them).
Heavy reading runs in an executor thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.accounts.tokens import new_id
from domain.errors import Conflict, DomainError, Unavailable
from domain.imports.eddy_export import spool_eddy_export
from domain.imports.history import merged_history
from domain.imports.plausible import AggregateSpool, spool_plausible
from domain.imports.rows import ImportFailed, Tally
from domain.imports.spool import DAY_MS, Spool
from domain.imports.umami import spool_umami
from domain.site_items import site_item
from domain.stats.imported import latest_import
from storage.ports import DocumentStore, EventFilter, EventStore
from storage.records import Event

log = logging.getLogger("eddy.imports")
KINDS = ("umami", "eddy", "plausible")
BATCH = 5000
MAX_RUNNING = 4  # imports at once per process (each holds a spool, and Umami's its session table)
PROGRESS_EVERY_S = 0.5
STALE_AFTER_S = 60.0  # a running job not reported on for this long has lost its process
SPOOLERS: dict[str, Callable[..., None]] = {"umami": spool_umami, "eddy": spool_eddy_export}


@dataclass(eq=False)
class ImportService:
    """Starts imports, runs them, and answers their progress."""

    docs: DocumentStore
    events: EventStore
    work_dir: Path
    on_events_written: Callable[[str], Any] | None = None
    max_running: int = MAX_RUNNING
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict, init=False, repr=False)

    async def history(
        self, site_id: str, import_id: str | None, start: int, end: int, tz: str
    ) -> dict[str, Any]:
        """Daily history of [start, end) with the days of import `import_id` merged in (`merged_history`)."""
        return await merged_history(self.events, self.docs, site_id, import_id, start, end, tz)

    def upload_path(self) -> Path:
        """A fresh path for an upload to be written to."""
        (self.work_dir / "uploads").mkdir(parents=True, exist_ok=True)
        return self.work_dir / "uploads" / f"{new_id()}.upload"

    async def begin(self, site_id: str, user_id: str, kind: str, upload: Path) -> dict[str, Any]:
        """Begin importing `upload` (taken over: deleted when the import ends) into the site."""
        running = await self.docs.find("imports", {"site_id": site_id, "status": "running"})
        refusal: DomainError | None = None
        if any(job["id"] in self._tasks for job in running):
            refusal = Conflict("an import of this site is already running", code="import_running")
        elif len(self._tasks) >= self.max_running:
            refusal = Unavailable(30.0, "too many imports are running on this server: try again shortly")
        if refusal is not None:
            await asyncio.get_running_loop().run_in_executor(None, lambda: upload.unlink(missing_ok=True))
            raise refusal
        now = time.time()
        job = {
            "id": new_id(),
            "site_id": site_id,
            "user_id": user_id,
            "kind": kind,
            "status": "running",
            "phase": "reading",
            **Tally().snapshot(),
            "message": "",
            "summary": {},
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
        }
        await self.docs.insert("imports", job)
        self._tasks[job["id"]] = asyncio.get_running_loop().create_task(self._run(job, upload))
        return job

    async def wait(self, job_id: str) -> None:
        """Until the import ends (tests and shutdown)."""
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.shield(task)

    async def start(self) -> None:
        """Nothing runs before an upload arrives."""

    async def stop(self) -> None:
        """Cancel running imports (their jobs are marked failed)."""
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def get(self, site_id: str, job_id: str) -> dict[str, Any]:
        """One import of the site (404 for others')."""
        return await self._settled(await site_item(self.docs, "imports", site_id, job_id, "no such import"))

    async def list(self, site_id: str) -> list[dict[str, Any]]:
        """The site's imports, newest first."""
        jobs = await self.docs.find("imports", {"site_id": site_id}, sort="created_at", descending=True)
        return [await self._settled(job) for job in jobs]

    async def _settled(self, job: dict[str, Any]) -> dict[str, Any]:
        """A running job whose process stopped reporting (Eddy restarted mid-import) is failed."""
        if job["status"] != "running" or job["id"] in self._tasks:
            return job
        if job.get("updated_at", 0) > time.time() - STALE_AFTER_S:
            return job  # another process may be running it
        changes = {
            "status": "failed",
            "message": "Eddy stopped before the import finished.",
            "phase": "finished",
        }
        await self.docs.update("imports", {"id": job["id"], "status": "running"}, changes)
        return {**job, **changes}

    async def latest_plausible(self, site_id: str) -> str | None:
        """The id of the site's Plausible import that answers history, if any."""
        return await latest_import(self.docs, site_id)

    async def _run(self, job: dict[str, Any], upload: Path) -> None:
        tally = Tally()
        reporter = asyncio.get_running_loop().create_task(self._report(job, tally))
        changes: dict[str, Any]
        try:
            if job["kind"] == "plausible":
                summary = await self._plausible(job, upload, tally)
            else:
                summary = await self._events_import(job, upload, tally)
            changes = {"status": "done", "summary": summary}
        except ImportFailed as failed:
            changes = {"status": "failed", "message": str(failed)}
        except asyncio.CancelledError:
            changes = {"status": "failed", "message": "Eddy stopped before the import finished."}
        except Exception:  # any failure ends the job, reported on it
            log.exception("import %s failed", job["id"])
            changes = {
                "status": "failed",
                "message": "The import stopped on an unexpected error. Importing the same file again "
                "completes it without counting anything twice.",
            }
        finally:
            reporter.cancel()
            with contextlib.suppress(OSError):
                await asyncio.get_running_loop().run_in_executor(None, upload.unlink)
        now = time.time()
        changes.update(tally.snapshot(), phase="finished", updated_at=now, finished_at=now)
        await self.docs.update("imports", {"id": job["id"]}, changes)
        self._tasks.pop(job["id"], None)

    async def _report(self, job: dict[str, Any], tally: Tally) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            with contextlib.suppress(Exception):
                await self.docs.update(
                    "imports",
                    {"id": job["id"]},
                    {**tally.snapshot(), "phase": job["phase"], "updated_at": time.time()},
                )

    async def _events_import(self, job: dict[str, Any], upload: Path, tally: Tally) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        spool = await loop.run_in_executor(None, Spool, self.work_dir / f"{job['id']}.spool")
        site_id = job["site_id"]
        try:
            await loop.run_in_executor(None, SPOOLERS[job["kind"]], upload, site_id, tally, spool)
            distinct = await loop.run_in_executor(None, spool.count)
            tally.duplicates += tally.read - tally.skipped - distinct  # repeated ids within the file
            days = await loop.run_in_executor(None, spool.days)
            job["phase"] = "writing"
            try:
                pending: list[Event] = []
                for day in days:
                    await self._take_day(site_id, spool, day, tally, pending)
                    if len(pending) >= BATCH:
                        await self._append(pending, tally)
                await self._append(pending, tally)
            except Exception as error:
                raise ImportFailed(
                    f"The event store failed after {tally.imported} events were stored ({error}). Importing "
                    "the same file again stores the rest without duplicates."
                ) from error
        finally:
            await loop.run_in_executor(None, spool.close)
            if tally.imported and self.on_events_written is not None:
                await self.on_events_written(site_id)
        first, last = (days[0], days[-1]) if days else (None, None)
        return {
            "events_in_file": tally.read,
            "first_day": _day(first),
            "last_day": _day(last),
            "days": len(days),
        }

    async def _take_day(
        self, site_id: str, spool: Spool, day: int, tally: Tally, pending: list[Event]
    ) -> None:
        """Add the day's events the store does not hold yet to `pending` (appended BATCH at a time)."""
        loop = asyncio.get_running_loop()
        stored: set[str] = set()
        flt = EventFilter(site_id=site_id, start=day * DAY_MS, end=(day + 1) * DAY_MS)
        async for batch in self.events.read(flt, batch_size=5000):
            stored.update(event.id for event in batch)
        batches = spool.day_batches(day, BATCH)
        while (batch := await loop.run_in_executor(None, next, batches, None)) is not None:
            fresh = [event for event in batch if event.id not in stored]
            with tally.lock:
                tally.duplicates += len(batch) - len(fresh)
            pending.extend(fresh)
            if len(pending) >= BATCH:
                await self._append(pending, tally)

    async def _append(self, pending: list[Event], tally: Tally) -> None:
        """Store `pending` (emptied); ids the store already had count as duplicates."""
        if not pending:
            return
        written = await self.events.append(list(pending))
        with tally.lock:
            tally.imported += written
            tally.duplicates += len(pending) - written
        pending.clear()

    async def _plausible(self, job: dict[str, Any], upload: Path, tally: Tally) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        spool = await loop.run_in_executor(None, AggregateSpool, self.work_dir / f"{job['id']}.aggregates")
        site_id, import_id = job["site_id"], job["id"]
        try:
            summary = await loop.run_in_executor(None, spool_plausible, upload, tally, spool)
            job["phase"] = "writing"
            documents = spool.documents()
            days: set[str] = set()
            try:
                while (item := await loop.run_in_executor(None, next, documents, None)) is not None:
                    table, day, rows = item
                    await self.docs.insert(
                        "imported_stats",
                        {
                            "id": f"{import_id}:{table}:{day}",
                            "site_id": site_id,
                            "import_id": import_id,
                            "table": table,
                            "date": day,
                            "rows": rows,
                        },
                    )
                    days.add(day)
                    with tally.lock:
                        tally.imported += len(rows)
            except BaseException:
                await self.docs.delete("imported_stats", {"import_id": import_id})
                raise
        finally:
            await loop.run_in_executor(None, spool.close)
        # This import now answers history; the ones before it are replaced.
        for previous in await self.docs.find("imports", {"site_id": site_id, "kind": "plausible"}):
            if previous["id"] != import_id and previous["status"] == "done":
                await self.docs.delete("imported_stats", {"import_id": previous["id"]})
                await self.docs.update("imports", {"id": previous["id"]}, {"status": "replaced"})
        ordered = sorted(days)
        return {
            **summary,
            "first_day": ordered[0] if ordered else None,
            "last_day": ordered[-1] if ordered else None,
            "days": len(ordered),
        }


def _day(day: int | None) -> str | None:
    if day is None:
        return None
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))
