"""Mail benchmark: how fast the outbox drains into a real SMTP server, and how long a queued message waits.

Starts an aiosmtpd server in-process and a MailDelivery over an embedded document store in a temp dir, then:
- queues `--mail-messages` messages at once and times until the last one is accepted by the SMTP server
  (one connection per message, as a real relay sees them): messages/s;
- queues one message at a time (`--mail-singles` of them, each waking the delivery loop) and times queue
  -> accepted: p50 / p95.

Usage: python -m bench --only mail [--mail-messages 300] [--mail-singles 30]
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from domain.mail.outbox import MailDelivery, Mailer
from domain.mail.settings import mail_settings
from storage.embedded.documents import SqliteDocumentStore
from tests.support.smtp_sink import SmtpSink


def add_arguments(parser: Any) -> None:
    """This benchmark's flags."""
    parser.add_argument("--mail-messages", type=int, default=300, help="messages queued at once")
    parser.add_argument("--mail-singles", type=int, default=30, help="messages timed one by one")


async def _until(check: Any, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the outbox did not drain")
        await asyncio.sleep(0.002)


async def _measure(folder: Path, messages: int, singles: int) -> dict[str, Any]:
    sink = SmtpSink().start()
    docs = SqliteDocumentStore(folder)
    await docs.open()
    settings = mail_settings(sink.env())
    delivery = MailDelivery(docs, settings, poll_s=0.5)
    mailer = Mailer(docs, settings, "http://eddy.bench")
    mailer.on_queued = delivery.wake
    await delivery.start()
    try:
        started = time.perf_counter()
        for n in range(messages):
            await mailer.send(
                f"reader{n}@example.com", f"Message {n}", "A short body.\n", "<p>A short body.</p>"
            )
        await _until(lambda: len(sink.received()) >= messages)
        drained = time.perf_counter() - started
        waits = []
        for n in range(singles):
            before = len(sink.received())
            queued = time.perf_counter()
            await mailer.send(f"single{n}@example.com", "One", "body")
            await _until(lambda: len(sink.received()) > before)  # noqa: B023 - awaited within the iteration
            waits.append((time.perf_counter() - queued) * 1000)
        waits.sort()
        return {
            "title": "mail outbox (aiosmtpd on loopback, embedded store)",
            "rows": [
                {"measure": f"drain {messages} queued messages", "value": f"{drained:.2f} s"},
                {"measure": "messages/s (one connection each)", "value": f"{messages / drained:.1f}"},
                {"measure": "queued -> accepted p50", "value": f"{statistics.median(waits):.1f} ms"},
                {"measure": "queued -> accepted p95", "value": f"{waits[int(len(waits) * 0.95) - 1]:.1f} ms"},
            ],
        }
    finally:
        await delivery.stop()
        await docs.close()
        sink.stop()


def run(args: Any) -> dict[str, Any]:
    """Run the mail benchmark; returns its figures."""
    folder = Path(tempfile.mkdtemp(prefix="eddy-bench-mail-"))
    try:
        return asyncio.run(_measure(folder, args.mail_messages, args.mail_singles))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
