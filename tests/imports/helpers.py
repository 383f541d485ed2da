"""Shared bits of the import tests: upload a file and wait for its import to end, and files it refuses."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from typing import Any

from storage.ports import EventFilter

FOREVER = 2**62


async def run_import(api: Any, ctx: Any, token: str, site_id: str, kind: str, body: bytes) -> dict[str, Any]:
    """Upload `body` as an import of `kind` and return the finished job."""
    answer = await api.post(
        f"/api/v1/sites/{site_id}/imports?kind={kind}",
        body=body,
        headers={"Content-Type": "application/octet-stream"},
        token=token,
    )
    assert answer.status == 202, answer.json
    job = answer.json["import"]
    assert job["status"] == "running" and job["kind"] == kind
    await ctx.imports.wait(job["id"])
    done = await api.get(f"/api/v1/sites/{site_id}/imports/{job['id']}", token=token)
    assert done.status == 200
    return done.json["import"]


async def event_count(ctx: Any, site_id: str) -> int:
    return await ctx.stores.events.count(EventFilter(site_id=site_id, start=0, end=FOREVER))


def zipped(files: dict[str, str]) -> bytes:
    """A zip archive of `files` (name: text)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


async def refused_imports(
    api: Any, ctx: Any, token: str, site_id: str, kind: str, cases: Iterable[tuple[bytes, str]]
) -> list[dict[str, Any]]:
    """Import each body of `cases` as `kind`: each job fails with a message holding its words; the jobs."""
    jobs = []
    for body, words in cases:
        job = await run_import(api, ctx, token, site_id, kind, body)
        assert job["status"] == "failed" and words in job["message"], job
        jobs.append(job)
    return jobs
