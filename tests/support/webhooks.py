"""A webhook receiver on a loopback port that records each delivery (the `receiver` fixture) and the body
of an alert rule pointing at a URL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from tornado.web import Application, RequestHandler


def rule_body(url: str, **changes: Any) -> dict[str, Any]:
    """An alert rule's body (more than 2 events in the window) delivering to `url`."""
    return {"name": "traffic spike", "kind": "events_above", "threshold": 2, "webhook_url": url, **changes}


class Receiver(RequestHandler):
    """Records each delivery; answers the statuses it is given in turn, then 200."""

    def initialize(self, received: list[dict[str, Any]], statuses: list[int]) -> None:
        self.received = received
        self.statuses = statuses

    def post(self) -> None:
        self.received.append(
            {
                "body": self.request.body,
                "signature": self.request.headers.get("X-Eddy-Signature", ""),
                "timestamp": self.request.headers.get("X-Eddy-Timestamp", ""),
                "at": time.monotonic(),
            }
        )
        self.set_status(self.statuses.pop(0) if self.statuses else 200)
        self.finish("ok")


@pytest.fixture
async def receiver() -> AsyncIterator[dict[str, Any]]:
    sock, port = bind_unused_port()
    state: dict[str, Any] = {"received": [], "statuses": []}
    app = Application([("/hook", Receiver, {"received": state["received"], "statuses": state["statuses"]})])
    server = HTTPServer(app)
    server.add_sockets([sock])
    state["url"] = f"http://127.0.0.1:{port}/hook"
    yield state
    server.stop()
