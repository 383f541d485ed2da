"""One slow question never stalls the others: columnar scans run on their own bounded pool, stop at their
time budget, and stop when the client that asked goes away."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from handlers.context import AppContext
from storage.embedded.columnar.engine import Scan
from storage.embedded.events import SqliteEventStore
from storage.errors import QueryTooSlowError
from storage.ports import EventFilter, Grouping
from tests.support.accounts import make_site, signup
from tests.support.api import Api
from tests.support.events import make_events, store_events
from tests.support.until import until

FOREVER = 2**62
# A statement that would run for minutes: only an interrupt ends it early.
ENDLESS = "SELECT count(*) FROM range(1000000000000) AS a(x) WHERE x % 7 = 3"


def endless(scan: Scan) -> Any:
    return scan.cursor.execute(ENDLESS).fetchall()


async def test_a_scan_past_its_budget_is_stopped(data_dir: Path) -> None:
    store = SqliteEventStore(data_dir, compact_interval_s=None)
    await store.open()
    try:
        flt = EventFilter(site_id="s", start=0, end=FOREVER)
        assert store.engine is not None
        with pytest.raises(QueryTooSlowError):
            await store.engine.run(endless, flt, timeout_s=0.3)
        assert store.engine.interrupted == 1
        # the worker it held is free again: every worker answers
        answers = await asyncio.gather(*(store.count(flt) for _ in range(6)))
        assert answers == [0] * 6
    finally:
        await store.close()


async def test_a_slow_scan_does_not_stall_other_questions(data_dir: Path) -> None:
    store = SqliteEventStore(data_dir, compact_interval_s=None)
    await store.open()
    try:
        await store.append(make_events("s", 20, 5))
        flt = EventFilter(site_id="s", start=0, end=FOREVER)
        assert store.engine is not None
        slow = asyncio.ensure_future(store.engine.run(endless, flt, timeout_s=120))
        for _ in range(5):  # others keep being answered while it runs
            [total] = await store.aggregate(flt, Grouping(kind="field", field="name"), limit=1)
            assert total.events == 20
            assert await store.count(flt) == 25
        assert not slow.done()
        slow.cancel()  # the caller gives up: the scan is interrupted, its worker freed
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert store.engine.interrupted == 1
    finally:
        await store.close()  # waits for the worker: it returns only if the scan really stopped


async def test_an_interrupt_that_lands_before_the_statement_starts_still_stops_it(data_dir: Path) -> None:
    """The caller goes away while its query holds a cursor but has not begun its statement (DuckDB forgets
    an interrupt that comes before a statement): the statement is stopped all the same, and the store
    closes at once."""
    store = SqliteEventStore(data_dir, compact_interval_s=None)
    await store.open()
    try:
        assert store.engine is not None
        engine = store.engine
        gate = threading.Event()

        def starts_late(scan: Scan) -> Any:
            gate.wait(30)
            return endless(scan)

        flt = EventFilter(site_id="s", start=0, end=FOREVER)
        question = asyncio.ensure_future(engine.run(starts_late, flt, timeout_s=600))
        await until(lambda: engine.running == 1)
        question.cancel()
        with pytest.raises(asyncio.CancelledError):
            await question
        assert engine.interrupted == 1
        gate.set()  # the statement begins only now, after the interrupt
        await until(lambda: engine.running == 0, timeout=20)
    finally:
        await store.close()


async def test_closing_the_store_stops_a_running_question(data_dir: Path) -> None:
    store = SqliteEventStore(data_dir, compact_interval_s=None)
    await store.open()
    assert store.engine is not None
    engine = store.engine
    question = asyncio.ensure_future(engine.run(endless, EventFilter(site_id="s", start=0, end=FOREVER)))
    await until(lambda: engine.running == 1)
    await store.close()  # returns only once the worker is free: the statement was interrupted
    assert engine.running == 0
    with pytest.raises(QueryTooSlowError):
        await question


async def test_a_client_going_away_stops_its_question(
    api: Api, ctx: AppContext, http_server_port: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    await store_events(ctx, make_events(site["id"], 3))
    store = ctx.stores.events
    assert isinstance(store, SqliteEventStore) and store.engine is not None
    engine = store.engine

    async def slow_aggregate(flt: EventFilter, *args: Any, **kwargs: Any) -> Any:
        return await engine.run(endless, flt)

    monkeypatch.setattr(store, "aggregate", slow_aggregate)
    with socket.create_connection(("127.0.0.1", http_server_port[1])) as client:
        request = (
            f"GET /api/v1/sites/{site['id']}/stats/breakdown?by=browser HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        client.sendall(request.encode())
        await until(lambda: engine.running == 1, timeout=20)  # the scan is under way
    await until(lambda: engine.interrupted == 1, timeout=20)
    monkeypatch.undo()
    # and the server answers the next question at once
    answer = await api.get(f"/api/v1/sites/{site['id']}/stats/summary", token=token)
    assert answer.status == 200 and answer.json["results"]["pageviews"]["value"] == 3


@pytest.mark.expect_errors("eddy.access")  # the 503 is logged at ERROR
async def test_a_question_past_its_budget_answers_503_and_is_counted_too_slow(
    api: Api, ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await signup(api)
    site = await make_site(api, token)
    store = ctx.stores.events
    assert isinstance(store, SqliteEventStore) and store.engine is not None
    engine = store.engine

    async def slow_aggregate(flt: EventFilter, *args: Any, **kwargs: Any) -> Any:
        return await engine.run(endless, flt, timeout_s=0.3)

    monkeypatch.setattr(store, "aggregate", slow_aggregate)
    answer = await api.get(f"/api/v1/sites/{site['id']}/stats/breakdown?by=browser", token=token)
    assert answer.status == 503 and answer.json["error"]["code"] == "query_timeout"
    assert "took too long" in answer.json["error"]["message"]
    labels = {"kind": "breakdown", "answered": "too_slow"}
    assert ctx.metrics.registry.get_sample_value("eddy_stats_question_duration_seconds_count", labels) == 1
    # not stored as an answer: the next question runs again (and answers, the store being quick again)
    monkeypatch.undo()
    again = await api.get(f"/api/v1/sites/{site['id']}/stats/breakdown?by=browser", token=token)
    assert again.status == 200 and again.json["cached"] is False
