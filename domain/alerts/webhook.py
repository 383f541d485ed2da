"""Signed webhook delivery with retries.

Each delivery is a POST of a JSON body with two headers:
- `X-Eddy-Timestamp`: epoch seconds when it was signed;
- `X-Eddy-Signature`: `sha256=<hex HMAC-SHA256 of "<timestamp>." + body under the rule's secret>`.
Receivers recompute the HMAC, compare in constant time and refuse old timestamps (replays).

Retries: on a connection error, a timeout, 429 or a 5xx, up to `attempts` tries in all with exponential
backoff and jitter (`base_delay` x 2^n, +-20%). Other statuses are final. Redirects are not followed,
and the client connects only to addresses domain/alerts/egress.py allows (a refused target is final).
The outcome of each delivery is kept on its rule (`last_delivery`, shown to the site's admins), never in
`/metrics` labels: outcomes per target would make the checker a port scanner for whoever sets the URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from domain.alerts.egress import EgressPolicy, GuardedResolver, RefusedTarget

log = logging.getLogger("eddy.alerts")

SIGNATURE_HEADER = "X-Eddy-Signature"
TIMESTAMP_HEADER = "X-Eddy-Timestamp"
USER_AGENT = "Eddy-Alerts/1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for a body signed at `timestamp`."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, max_age_s: float = 300.0) -> bool:
    """What a receiver does: a fresh timestamp and a matching signature (constant-time compare)."""
    try:
        signed_at = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - signed_at) > max_age_s:
        return False
    return hmac.compare_digest(sign(secret, signed_at, body), signature)


@dataclass
class DeliveryPolicy:
    """How hard to try."""

    attempts: int = 5
    base_delay: float = 1.0
    timeout: float = 10.0


@dataclass(frozen=True)
class DeliveryResult:
    """How a delivery ended: `delivered`, `failed` (a final status, or retries spent) or `refused`
    (the target is an address webhooks may not reach); the last HTTP status (0: none) and tries."""

    outcome: str
    status: int
    attempts: int


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def guarded_client(egress: EgressPolicy) -> AsyncHTTPClient:
    """An HTTP client of its own whose connections go only where `egress` allows."""
    return AsyncHTTPClient(force_instance=True, resolver=GuardedResolver(policy=egress))


async def deliver(
    url: str,
    secret: str,
    body: bytes,
    policy: DeliveryPolicy,
    client: AsyncHTTPClient,
    on_attempt: Callable[[str], None] | None = None,
) -> DeliveryResult:
    """POST `body` to `url` with `client` (see `guarded_client`), signed, retrying transient failures.
    `on_attempt(outcome)` is told `delivered`, `retried`, `failed` or `refused` for each try."""
    for attempt in range(policy.attempts):
        timestamp = int(time.time())
        request = HTTPRequest(
            url,
            method="POST",
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                SIGNATURE_HEADER: sign(secret, timestamp, body),
                TIMESTAMP_HEADER: str(timestamp),
            },
            follow_redirects=False,
            connect_timeout=policy.timeout,
            request_timeout=policy.timeout,
        )
        status = 0
        try:
            response = await client.fetch(request, raise_error=False)
            status = response.code
        except RefusedTarget as error:
            log.warning("webhook %s refused: %s", url, error)
            if on_attempt:
                on_attempt("refused")
            return DeliveryResult("refused", 0, attempt + 1)
        except (TimeoutError, OSError, HTTPClientError) as error:
            log.info("webhook %s attempt %d: %s", url, attempt + 1, type(error).__name__)
        if 200 <= status < 300:
            if on_attempt:
                on_attempt("delivered")
            return DeliveryResult("delivered", status, attempt + 1)
        last = attempt == policy.attempts - 1
        if (status and not _retryable(status)) or last:
            log.warning("webhook %s gave up after %d attempts (last status %s)", url, attempt + 1, status)
            if on_attempt:
                on_attempt("failed")
            return DeliveryResult("failed", status, attempt + 1)
        if on_attempt:
            on_attempt("retried")
        delay = policy.base_delay * (2**attempt)
        await asyncio.sleep(delay * random.uniform(0.8, 1.2))
    return DeliveryResult("failed", 0, policy.attempts)
