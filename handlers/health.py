"""Liveness and readiness: `/healthz` answers while the process runs; `/readyz` checks every configured
dependency and answers 503 when one is down, naming it."""

from __future__ import annotations

import asyncio
import time

from handlers.base import ApiHandler
from handlers.policy import public

PING_TIMEOUT = 2.0


class HealthzHandler(ApiHandler):
    """Liveness: the IOLoop is turning."""

    @public
    def get(self) -> None:
        self.write_json({"status": "ok", "uptime_s": round(time.time() - self.ctx.started_at, 1)})


class ReadyzHandler(ApiHandler):
    """Readiness with per-dependency status."""

    @public
    async def get(self) -> None:
        stores = self.ctx.stores
        parts = {"documents": stores.docs, "events": stores.events, "kv": stores.kv, "bus": stores.bus}
        results = await asyncio.gather(*(self._check(part) for part in parts.values()))
        checks = {}
        for name, error in zip(parts, results, strict=True):
            if error is None and name == "bus" and not stores.bus.healthy:
                error = "not connected"
            checks[name] = {"status": "down" if error else "up", "kind": stores.kinds.get(name, "?")}
            if error:
                checks[name]["error"] = error
                self.ctx.metrics.on_store_error(name)
        down = [name for name, check in checks.items() if check["status"] != "up"]
        if not down:
            self.write_json({"status": "ready", "checks": checks})
            return
        error = {"code": "not_ready", "message": f"unavailable: {', '.join(down)}"}
        self.write_json({"status": "unavailable", "checks": checks, "error": error}, 503)

    @staticmethod
    async def _check(part: object) -> str | None:
        try:
            await asyncio.wait_for(part.ping(), PING_TIMEOUT)  # type: ignore[attr-defined]
        except TimeoutError:
            return "timed out"
        except Exception as error:  # noqa: BLE001 - report any failure as "down"
            return type(error).__name__
        return None


default_handlers = [
    (r"/healthz", HealthzHandler),
    (r"/readyz", ReadyzHandler),
]
