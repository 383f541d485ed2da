"""Mail through a real SMTP server (aiosmtpd in-process): settings from EDDY_SMTP_URL, the persistent
outbox delivered in the background, retries with backoff while the server is down, exactly one delivery
with several workers claiming the same messages, bodies cleared once sent, and the outbox in /metrics."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from domain.mail.outbox import MailDelivery, Mailer, MailNotConfigured, RetryPolicy
from domain.mail.settings import MailSettingsError, mail_settings
from handlers.context import AppContext
from storage.embedded.documents import SqliteDocumentStore
from tests.support.smtp_sink import PUBLIC_URL, SmtpSink, html_of, text_of, to
from tests.support.until import until


@pytest.fixture
def app_config(sink: SmtpSink) -> dict[str, Any]:
    return sink.app_config(mail_retry_base_s=0.05)


class TestSettings:
    def test_smtp_url_with_credentials_requires_starttls(self) -> None:
        settings = mail_settings(
            {"EDDY_SMTP_URL": "smtp://mailer:p%40ss@mail.example", "EDDY_MAIL_FROM": "a@b.c"}
        )
        assert settings is not None
        assert (settings.host, settings.port, settings.implicit_tls) == ("mail.example", 587, False)
        assert settings.require_starttls and settings.username == "mailer" and settings.password == "p@ss"

    def test_smtps_is_tls_from_the_start(self) -> None:
        settings = mail_settings({"EDDY_SMTP_URL": "smtps://u:p@mail.example", "EDDY_MAIL_FROM": "a@b.c"})
        assert settings is not None and settings.implicit_tls and settings.port == 465

    def test_relay_without_credentials_uses_starttls_only_when_offered(self) -> None:
        settings = mail_settings({"EDDY_SMTP_URL": "smtp://relay:25"})
        assert settings is not None and not settings.require_starttls and settings.sender == "eddy@relay"

    def test_unset_means_no_mail(self) -> None:
        assert mail_settings({}) is None

    @pytest.mark.parametrize(
        ("url", "sender"),
        [
            ("http://mail.example", "a@b.c"),
            ("smtp://", "a@b.c"),
            ("smtp://h:99999", "a@b.c"),
            ("smtp://h", "nobody"),
        ],
    )
    def test_bad_settings_are_refused_with_a_sentence(self, url: str, sender: str) -> None:
        with pytest.raises(MailSettingsError, match=r"^EDDY_"):
            mail_settings({"EDDY_SMTP_URL": url, "EDDY_MAIL_FROM": sender})


async def test_without_smtp_sending_says_so_plainly(tmp_path: Path) -> None:
    docs = SqliteDocumentStore(tmp_path)
    await docs.open()
    try:
        with pytest.raises(MailNotConfigured, match="EDDY_SMTP_URL") as caught:
            await Mailer(docs, None, PUBLIC_URL).send("a@example.com", "Hi", "text")
        assert caught.value.status == 409
        settings = mail_settings({"EDDY_SMTP_URL": "smtp://relay"})
        with pytest.raises(MailNotConfigured, match="EDDY_PUBLIC_URL"):
            await Mailer(docs, settings, None).send("a@example.com", "Hi", "text")
        assert await docs.count("mail_outbox", {}) == 0
    finally:
        await docs.close()


async def test_queued_mail_is_delivered_with_text_and_html_and_its_body_cleared(
    ctx: AppContext, sink: SmtpSink
) -> None:
    outbox_id = await ctx.mailer.send(
        "reader@example.com", "Your report", "Plain words", "<p>Rich words</p>", kind="test"
    )
    message = await sink.wait_for(to("reader@example.com"))
    assert message["Subject"] == "Your report"
    assert message["From"].addresses[0].addr_spec == "eddy@eddy.test"
    assert message["Message-ID"] == f"<{outbox_id}@eddy.test>"
    assert text_of(message).strip() == "Plain words"
    assert html_of(message).strip() == "<p>Rich words</p>"
    doc = await until(lambda: _sent(ctx, outbox_id), timeout=15)
    assert doc["attempts"] == 1 and doc["text"] == "" and doc["html"] == ""
    await ctx.mail.publish_counts()
    exposition = ctx.metrics.exposition().decode()
    assert 'eddy_mail_outbox_messages{state="sent"} 1.0' in exposition
    assert 'eddy_mail_attempts_total{outcome="sent"} 1.0' in exposition


async def _sent(ctx: AppContext, outbox_id: str) -> dict[str, Any] | None:
    doc = await ctx.stores.docs.get("mail_outbox", outbox_id)
    return doc if doc and doc["state"] == "sent" else None


async def test_smtp_down_then_up_retries_and_delivers_exactly_once(ctx: AppContext, sink: SmtpSink) -> None:
    sink.stop()
    outbox_id = await ctx.mailer.send("later@example.com", "Patience", "It arrives")

    async def retried_twice() -> bool:
        doc = await ctx.stores.docs.get("mail_outbox", outbox_id)
        return bool(doc and doc["attempts"] >= 2 and doc["state"] == "pending")

    await until(retried_twice, timeout=15)
    assert sink.received() == []
    doc = await ctx.stores.docs.get("mail_outbox", outbox_id)
    assert doc is not None and doc["last_error"].startswith(("SMTPConnect", "ConnectionRefused", "OSError"))
    sink.start()
    await until(lambda: _sent(ctx, outbox_id), timeout=15)
    # Further rounds find nothing to send: the message arrived once.
    assert await ctx.mail.deliver_due() == 0
    assert len(sink.received(to("later@example.com"))) == 1
    exposition = ctx.metrics.exposition().decode()
    retried = [
        line
        for line in exposition.splitlines()
        if line.startswith('eddy_mail_attempts_total{outcome="retried"}')
    ]
    assert retried and float(retried[0].split()[-1]) >= 2


async def test_several_workers_deliver_each_message_once(tmp_path: Path, sink: SmtpSink) -> None:
    # Two workers, each with its own connection to the same store file (as two processes would be).
    settings = mail_settings(sink.env())
    stores = [SqliteDocumentStore(tmp_path), SqliteDocumentStore(tmp_path)]
    for store in stores:
        await store.open()
    try:
        mailer = Mailer(stores[0], settings, PUBLIC_URL)
        for n in range(20):
            await mailer.send(f"person{n}@example.com", f"Message {n}", "body")
        workers = [MailDelivery(store, settings, retry=RetryPolicy(base_s=0.05)) for store in stores]
        sent = await asyncio.gather(*(worker.deliver_due() for worker in workers))
        assert sum(sent) == 20
        assert sorted(str(m["Subject"]) for m in sink.received()) == sorted(f"Message {n}" for n in range(20))
        assert await workers[0].counts() == {"pending": 0, "sending": 0, "sent": 20, "failed": 0}
    finally:
        for store in stores:
            await store.close()


async def test_a_claim_left_by_a_dead_worker_is_sent_after_the_lease(tmp_path: Path, sink: SmtpSink) -> None:
    settings = mail_settings(sink.env())
    docs = SqliteDocumentStore(tmp_path)
    await docs.open()
    try:
        outbox_id = await Mailer(docs, settings, PUBLIC_URL).send("late@example.com", "Stuck", "body")
        await docs.update("mail_outbox", {"id": outbox_id}, {"state": "sending", "claimed_at": time.time()})
        worker = MailDelivery(docs, settings)
        assert await worker.deliver_due() == 0  # still leased to the other worker
        assert await worker.deliver_due(now=time.time() + 3600) == 1
        assert len(sink.received(to("late@example.com"))) == 1
    finally:
        await docs.close()
