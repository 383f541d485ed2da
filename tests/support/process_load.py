"""Load against a real Eddy process: a secret key made through its API, several clients posting batches
until it dies, and the event ids it stored, read straight from its data dir."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from storage.embedded.columnar.snapshot import stored_events
from tests.support.sync_api import SyncApi

CLIENTS = 6


BATCH = 25


def secret_key(base_url: str) -> tuple[str, str]:
    """(site id, secret key value) created through the management API."""
    api = SyncApi(base_url)
    email = f"kill9-{time.monotonic_ns()}@example.com"
    answer = api.post("/api/v1/auth/register", json={"email": email, "password": "correct horse battery"})
    assert answer.status == 201, answer.json
    token = answer.json["access_token"]
    site = api.post("/api/v1/sites", json={"name": "Load", "domain": "load.example"}, token=token)
    assert site.status == 201, site.json
    key = api.post(
        f"/api/v1/sites/{site.json['site']['id']}/keys", json={"name": "load", "kind": "secret"}, token=token
    )
    assert key.status == 201, key.json
    return site.json["site"]["id"], key.json["key"]["key"]


async def load(url: str, key: str, acked: set[str], sent: set[str], stop: asyncio.Event) -> None:
    """Several clients posting batches until the server dies (or `stop`)."""
    client = AsyncHTTPClient(force_instance=True, max_clients=CLIENTS)

    async def one_client(number: int) -> None:
        batch = 0
        while not stop.is_set():
            ids = [f"c{number}-{batch}-{i}" for i in range(BATCH)]
            batch += 1
            body = orjson.dumps({"events": [{"name": "load", "id": event_id} for event_id in ids]})
            sent.update(ids)
            try:
                answer = await client.fetch(
                    url + "/api/v1/collect",
                    method="POST",
                    body=body,
                    headers={"X-Api-Key": key, "Content-Type": "application/json"},
                    request_timeout=10,
                )
            except (HTTPClientError, OSError):
                return  # refused or cut off: not acknowledged
            if answer.code == 202:
                acked.update(ids)

    try:
        await asyncio.gather(*(one_client(n) for n in range(CLIENTS)))
    finally:
        client.close()


def stored_ids(data_dir: Path, site_id: str) -> list[str]:
    """Event ids of a site straight from the data dir's files (segments and the log's tail)."""
    return [row["id"] for row in stored_events(data_dir, site_id)]
