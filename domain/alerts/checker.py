"""The alert checker: every `interval_s` it measures each enabled rule and, when a rule's state changes
(ok -> firing, firing -> ok), delivers a signed webhook (`firing` or `resolved`).

Several processes (or hosts) run a checker each; a rule is checked once per interval slot in all of them
together: each claims the slot with a compare-and-set on the rule's `check_slot` before measuring, and only
the winner measures and delivers. Deliveries run in the background (retries can take a while) and are
awaited briefly at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from domain.alerts.egress import EgressPolicy, Network
from domain.alerts.rules import AlertRules
from domain.alerts.webhook import DeliveryPolicy, DeliveryResult, deliver, guarded_client
from runtime.metrics import Metrics, StorePart
from runtime.periodic import Periodic
from storage.ports import DocumentStore, EventFilter, EventStore, Stores

log = logging.getLogger("eddy.alerts")

DEFAULT_INTERVAL_S = 30.0
# Visitors are counted by reading the window's events; past this many the count stops (a floor).
MAX_SCAN_EVENTS = 200_000
SHUTDOWN_WAIT_S = 5.0


async def measure(events: EventStore, rule: Mapping[str, Any], now: float) -> float:
    """The rule's current value over its window ending at `now` (see rules.py for the kinds)."""
    site_id = rule["site_id"]
    window_ms = int(rule["window_minutes"]) * 60_000
    end = int(now * 1000)
    start = end - window_ms
    kind = rule["kind"]
    if kind.startswith("events_"):
        return float(await events.count(EventFilter(site_id=site_id, start=start, end=end)))
    if kind == "event_rate_drop":
        current = await events.count(EventFilter(site_id=site_id, start=start, end=end))
        previous = await events.count(EventFilter(site_id=site_id, start=start - window_ms, end=start))
        return 0.0 if previous == 0 else max(0.0, (previous - current) * 100.0 / previous)
    visitors: set[str] = set()
    scanned = 0
    async for batch in events.read(EventFilter(site_id=site_id, start=start, end=end)):
        visitors.update(event.visitor_id for event in batch if event.visitor_id)
        scanned += len(batch)
        if scanned >= MAX_SCAN_EVENTS:
            break
    return float(len(visitors))


def breached(rule: Mapping[str, Any], value: float) -> bool:
    """Whether `value` breaks the rule's threshold."""
    threshold = float(rule["threshold"])
    if rule["kind"].endswith("_below"):
        return value < threshold
    if rule["kind"] == "event_rate_drop":
        return value > 0 and value >= threshold
    return value > threshold


def payload(rule: Mapping[str, Any], status: str, value: float, now: float) -> bytes:
    """The webhook body."""
    return orjson.dumps(
        {
            "status": status,
            "site_id": rule["site_id"],
            "rule": {
                "id": rule["id"],
                "name": rule["name"],
                "kind": rule["kind"],
                "threshold": rule["threshold"],
                "window_minutes": rule["window_minutes"],
            },
            "value": value,
            "checked_at": now,
        }
    )


class AlertChecker:
    """Checks every enabled rule on an interval (a context component)."""

    def __init__(
        self,
        docs: DocumentStore,
        events: EventStore,
        metrics: Metrics,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        policy: DeliveryPolicy | None = None,
        egress: EgressPolicy | None = None,
    ) -> None:
        self._docs = docs
        self._events = events
        self.egress = egress or EgressPolicy()
        self.rules = AlertRules(docs, self.egress)
        self._client = guarded_client(self.egress)
        self._metrics = metrics
        self.interval_s = interval_s
        self.policy = policy or DeliveryPolicy()
        self._deliveries: set[asyncio.Task[Any]] = set()
        # Mails a change of state to the site's team for rules with `email_team` (set by server.services).
        self.notify_email: Callable[[dict[str, Any], str, float, float], Awaitable[None]] | None = None
        # a store outage must not end the loop: the round is logged and counted, the next slot tries again
        self._rounds = Periodic(
            "alert check",
            self.check_all,
            lambda: self.interval_s,
            log,
            on_error=lambda _error: self._metrics.store_errors.labels(StorePart.DOCUMENTS).inc(),
        )

    async def start(self) -> None:
        """Begin checking."""
        self._rounds.start()

    async def stop(self) -> None:
        """Stop checking; give in-flight deliveries a moment, then cancel them."""
        await self._rounds.stop()
        if self._deliveries:
            _done, pending = await asyncio.wait(self._deliveries, timeout=SHUTDOWN_WAIT_S)
            for task in pending:
                task.cancel()

    async def check_all(self, now: float | None = None) -> int:
        """Check every enabled rule whose current slot no process has claimed; returns how many."""
        now = time.time() if now is None else now
        slot = int(now // self.interval_s)
        checked = 0
        for rule in await self._docs.find("alert_rules", {"enabled": True}):
            claimed_slot = int(rule.get("check_slot") or 0)
            if claimed_slot >= slot:
                continue
            claimed = await self._docs.update(
                "alert_rules", {"id": rule["id"], "check_slot": claimed_slot}, {"check_slot": slot}
            )
            if claimed != 1:
                continue  # another process took this slot
            await self._check(rule, now)
            checked += 1
        return checked

    async def _check(self, rule: dict[str, Any], now: float) -> None:
        value = await measure(self._events, rule, now)
        firing = breached(rule, value)
        changes: dict[str, Any] = {"last_value": value, "last_checked_at": now}
        was_firing = rule.get("state") == "firing"
        if firing != was_firing:
            changes["state"] = "firing" if firing else "ok"
            if firing:
                changes["last_fired_at"] = now
            body = payload(rule, "firing" if firing else "resolved", value, now)
            task = asyncio.create_task(self._deliver(rule, body))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
            if rule.get("email_team") and self.notify_email is not None:
                mail = asyncio.create_task(
                    self.notify_email(rule, "firing" if firing else "resolved", value, now)
                )
                self._deliveries.add(mail)
                mail.add_done_callback(self._deliveries.discard)
        await self._docs.update("alert_rules", {"id": rule["id"]}, changes)

    async def _deliver(self, rule: dict[str, Any], body: bytes) -> None:
        result: DeliveryResult = await deliver(
            rule["webhook_url"], rule["secret"], body, self.policy, self._client
        )
        outcome = {
            "at": time.time(),
            "outcome": result.outcome,
            "status": result.status,
            "attempts": result.attempts,
        }
        try:
            await self._docs.update("alert_rules", {"id": rule["id"]}, {"last_delivery": outcome})
        except Exception:  # noqa: BLE001 - the store is down: the outcome is in the log already
            log.warning("could not record the delivery outcome of rule %s", rule["id"])


def build_alert_checker(
    stores: Stores,
    metrics: Metrics,
    *,
    interval_s: float = DEFAULT_INTERVAL_S,
    retry_base_s: float = 1.0,
    webhook_allow: tuple[Network, ...] = (),
) -> AlertChecker:
    """The checker with its settings: seconds between checks (EDDY_ALERT_INTERVAL_S), the first retry
    delay of a webhook, doubling (EDDY_ALERT_RETRY_BASE_S), and the internal addresses or networks
    webhooks may reach (EDDY_WEBHOOK_ALLOW: domain/alerts/egress.py)."""
    return AlertChecker(
        stores.docs,
        stores.events,
        metrics,
        interval_s=interval_s,
        policy=DeliveryPolicy(base_delay=retry_base_s),
        egress=EgressPolicy(webhook_allow),
    )
