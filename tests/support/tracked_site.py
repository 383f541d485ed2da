"""A site set up on a real Eddy process through its API (owner, site allowing the customer's origin,
public key, snippet), and what Eddy stored for it, read from the data dir's SQLite event store. For the
sync browser tests (no IOLoop)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storage.embedded.columnar.snapshot import stored_events
from tests.support.eddy_process import EddyProcess
from tests.support.sync_api import SyncApi
from tests.support.until import until_sync

PASSWORD = "correct horse battery staple"
Event = dict[str, Any]


@dataclass
class TrackedSite:
    """One owner's site on `eddy` that accepts events from `origin`."""

    eddy: EddyProcess
    api: SyncApi
    token: str
    site_id: str
    key_id: str
    key: str
    # How to wait between polls, in seconds: a Playwright test passes the page's own wait
    # (`lambda s: page.wait_for_timeout(s * 1000)`), so its sync API keeps dispatching events and route
    # handlers while the test waits.
    pause: Callable[[float], None] = time.sleep

    @classmethod
    def create(cls, eddy: EddyProcess, origin: str) -> TrackedSite:
        api = SyncApi(eddy.url)
        email = f"owner-{uuid.uuid4().hex[:10]}@example.com"
        answer = api.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert answer.status == 201, answer.json
        token = answer.json["access_token"]
        body = {"name": "Shop", "domain": "127.0.0.1", "allowed_origins": [origin], "timezone": "UTC"}
        answer = api.post("/api/v1/sites", json=body, token=token)
        assert answer.status == 201, answer.json
        site_id = answer.json["site"]["id"]
        answer = api.post(
            f"/api/v1/sites/{site_id}/keys", json={"name": "web", "kind": "public"}, token=token
        )
        assert answer.status == 201, answer.json
        key = answer.json["key"]
        return cls(eddy, api, token, site_id, key["id"], key["key"])

    def add_metric(self, name: str, kind: str = "counter", labels: list[str] | None = None) -> None:
        """Declare a metric config on the site."""
        body = {"name": name, "type": kind, "help": f"{name} from the page", "labels": labels or []}
        answer = self.api.post(f"/api/v1/sites/{self.site_id}/metrics", json=body, token=self.token)
        assert answer.status == 201, answer.json

    def snippet(self, transport: str = "auto", integrity: bool = False, **options: Any) -> str:
        """The snippet Eddy generates; tests run on 127.0.0.1 in an automated browser, so both are allowed.
        Engagement events are off unless a test asks for them (`engagement=True`), so that tests of other
        features see only the events they cause."""
        options = {"allow_localhost": True, "allow_automated": True, "engagement": False, **options}
        body = {"key_id": self.key_id, "transport": transport, "options": options, "integrity": integrity}
        answer = self.api.post(f"/api/v1/sites/{self.site_id}/snippet", json=body, token=self.token)
        assert answer.status == 200, answer.json
        return answer.json["snippet"]

    def events(self) -> list[Event]:
        """Every event Eddy stored for the site, oldest first (props and traits decoded)."""
        if not (self.eddy.data_dir / "events.db").exists():
            return []
        out = []
        for event in stored_events(self.eddy.data_dir, self.site_id):
            for field in ("props", "traits"):
                raw = event.get(field)
                event[field] = json.loads(raw) if raw else {}
            out.append(event)
        return out

    def wait_for(
        self, condition: Callable[[list[Event]], bool], timeout: float = 15.0, what: str = "events"
    ) -> list[Event]:
        """Poll the stored events until `condition(events)` holds; fail with what was stored."""
        seen: list[list[Event]] = [[]]

        def holds() -> bool:
            seen[0] = self.events()
            return condition(seen[0])

        def failure() -> str:
            summary = [(e["name"], e["url"], e["props"]) for e in seen[0]]
            return f"timed out waiting for {what}; stored: {summary}\n{self.eddy.log()[-3000:]}"

        until_sync(holds, timeout, interval=0.1, message=failure, pause=self.pause)
        return seen[0]

    def named(self, name: str, timeout: float = 15.0, count: int = 1) -> list[Event]:
        """Wait until at least `count` events called `name` are stored; returns those."""
        events = self.wait_for(lambda all_: sum(e["name"] == name for e in all_) >= count, timeout, name)
        return [e for e in events if e["name"] == name]


def page_with(snippet: str, body: str = "", title: str = "Shop", head: str = "") -> str:
    """A customer's HTML page carrying the snippet."""
    return (
        f"<!doctype html><html><head><title>{title}</title>{head}{snippet}</head><body>{body}</body></html>"
    )
