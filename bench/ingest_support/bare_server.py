"""The baseline: a bare Tornado handler answering POST with 202 `{"accepted":1}` and nothing else, on
the same event loop (uvloop) and HTTPServer as Eddy. Usage: python -m bench.ingest_support.bare_server PORT"""

from __future__ import annotations

import asyncio
import sys

import uvloop
from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler


class Bare(RequestHandler):
    """Reads the body Tornado already buffered and answers."""

    def post(self) -> None:
        self.set_status(202)
        self.set_header("Content-Type", "application/json")
        self.finish(b'{"accepted":1}')


async def main(port: int) -> None:
    """Serve until killed."""
    server = HTTPServer(Application([(r"/api/v1/collect", Bare)]))
    server.listen(port, "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
