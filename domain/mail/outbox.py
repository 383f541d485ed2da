"""The outbox: mail is written to the document store on the request path and delivered in the background.

A message is a document of `mail_outbox`: {id, to, subject, text, html, headers, kind, state, attempts,
next_attempt_at, created_at, claimed_at?, sent_at?, last_error?}, state `pending` -> `sending` -> `sent` (or
back to `pending` with a later `next_attempt_at` after a failure, `failed` after the last attempt or a
permanent refusal).

Every process runs a `MailDelivery`; a message is claimed with a compare-and-set update (`pending` with
the attempt count read -> `sending`), so with several workers (or hosts) exactly one sends it. A claim
left by a worker that died mid-send returns to `pending` after `CLAIM_LEASE_S`. Bodies are cleared once
sent: they may hold one-use links.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiosmtplib

from domain.accounts.tokens import new_id
from domain.errors import DomainError
from domain.mail.settings import MailSettings, display_sender
from runtime.tasks import cancel_and_wait
from storage.ports import DocumentStore

log = logging.getLogger("eddy.mail")

STATES = ("pending", "sending", "sent", "failed")
CLAIM_LEASE_S = 600.0
KEEP_DONE_S = 7 * 24 * 3600.0
ROUND_LIMIT = 50
STOP_WAIT_S = 5.0


class MailNotConfigured(DomainError, status=409, code="mail_not_configured"):
    """This server cannot send mail (409: its configuration, not the request, is what must change; never
    a 5xx, which would read as a server fault that retrying could fix)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and backoff: the n-th retry waits base * 2**(n-1) seconds (at most `cap`), with jitter."""

    base_s: float = 30.0
    cap_s: float = 3600.0
    max_attempts: int = 8

    def delay(self, attempts: int) -> float:
        """Seconds before the next attempt after `attempts` failures."""
        delay = min(self.cap_s, self.base_s * 2 ** max(0, attempts - 1))
        return delay * random.uniform(1.0, 1.2)


class Mailer:
    """What domain code uses to send mail: `send` queues a message in the outbox (durable) and returns."""

    def __init__(self, docs: DocumentStore, settings: MailSettings | None, public_url: str | None) -> None:
        self.docs = docs
        self.settings = settings
        self.public_url = public_url
        self.on_queued: Callable[[], None] | None = None

    @property
    def enabled(self) -> bool:
        """Whether mail can be sent with working links (SMTP and the public URL are both set)."""
        return self.settings is not None and bool(self.public_url)

    def require(self) -> None:
        """Raise MailNotConfigured, with what the operator must set, unless mail is enabled."""
        if self.settings is None:
            raise MailNotConfigured(
                "This server cannot send email: its operator has not set EDDY_SMTP_URL. "
                "An administrator can manage accounts with `python run.py admin`."
            )
        if not self.public_url:
            raise MailNotConfigured(
                "This server cannot send email links: its operator has not set EDDY_PUBLIC_URL."
            )

    def link(self, page: str, token: str) -> str:
        """`<public-url>/<page>#token=<token>`: the token in the fragment never reaches a server log."""
        return f"{self.public_url}/{page}#token={token}"

    async def send(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        *,
        kind: str = "notice",
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Queue one message (MailNotConfigured when mail is off); returns its outbox id."""
        self.require()
        now = time.time()
        doc = {
            "id": new_id(),
            "to": to,
            "subject": subject,
            "text": text,
            "html": html or "",
            "headers": dict(headers or {}),
            "kind": kind,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        await self.docs.insert("mail_outbox", doc)
        if self.on_queued is not None:
            self.on_queued()
        return str(doc["id"])


def build_message(settings: MailSettings, doc: Mapping[str, Any]) -> EmailMessage:
    """The MIME message of an outbox document: plain text, with an HTML alternative when there is one.
    The Message-ID comes from the outbox id, so a receiving server can drop a copy sent twice."""
    message = EmailMessage()
    message["From"] = display_sender(settings)
    message["To"] = doc["to"]
    message["Subject"] = doc["subject"]
    message["Date"] = formatdate(doc.get("created_at") or time.time(), localtime=False)
    message["Message-ID"] = f"<{doc['id']}@{settings.sender_domain}>"
    message["Auto-Submitted"] = "auto-generated"
    for name, value in (doc.get("headers") or {}).items():
        message[name] = value
    message.set_content(doc["text"])
    if doc.get("html"):
        message.add_alternative(doc["html"], subtype="html")
    return message


def _permanent(error: BaseException) -> bool:
    """A 5xx answer (unknown recipient, refused sender) will not change on retry."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(item.code >= 500 for item in error.recipients)
    code = getattr(error, "code", None)
    return isinstance(error, aiosmtplib.SMTPResponseException) and isinstance(code, int) and code >= 500


@dataclass(eq=False)
class MailDelivery:
    """Delivers due outbox messages (a context component). `poll_s` bounds how long a message queued by
    another process waits; one queued here wakes the loop at once."""

    docs: DocumentStore
    settings: MailSettings | None
    _: KW_ONLY
    poll_s: float = 2.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_outcome: Callable[[str], None] | None = None
    on_counts: Callable[[Mapping[str, int]], None] | None = None

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._last_purge = 0.0

    def wake(self) -> None:
        """Deliver now rather than at the next poll (a message was just queued)."""
        self._wake.set()

    async def start(self) -> None:
        """Begin delivering (nothing to do without SMTP settings, but counts are still published)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="eddy-mail")

    async def stop(self) -> None:
        """Stop delivering: the message being sent may finish (up to STOP_WAIT_S), then the loop is
        cancelled; a message cut off there is left `sending` and retried after the lease."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        _done, pending = await asyncio.wait({task}, timeout=STOP_WAIT_S)
        if pending:
            await cancel_and_wait(task)

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.deliver_due()
                await self.publish_counts()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mail delivery round failed; the next round retries")

    async def deliver_due(self, now: float | None = None) -> int:
        """Send every due message this worker manages to claim; returns how many it sent."""
        if self.settings is None:
            return 0
        now = time.time() if now is None else now
        await self._release_stale(now)
        sent = 0
        rows = await self.docs.find(
            "mail_outbox", {"state": "pending"}, sort="next_attempt_at", limit=ROUND_LIMIT
        )
        for row in rows:
            if float(row["next_attempt_at"]) > now or self._stopping:
                break
            claimed = await self.docs.update(
                "mail_outbox",
                {"id": row["id"], "state": "pending", "attempts": row["attempts"]},
                {"state": "sending", "claimed_at": time.time()},
            )
            if claimed != 1:
                continue  # another worker has it
            sent += await self._send(row)
        if now - self._last_purge > 3600:
            self._last_purge = now
            await self._purge(now)
        return sent

    async def _send(self, row: dict[str, Any]) -> int:
        settings = self.settings
        assert settings is not None
        attempts = int(row["attempts"]) + 1
        try:
            await aiosmtplib.send(
                build_message(settings, row),
                hostname=settings.host,
                port=settings.port,
                username=settings.username,
                password=settings.password,
                use_tls=settings.implicit_tls,
                start_tls=True if settings.require_starttls else None,
                timeout=settings.timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            failed = attempts >= self.retry.max_attempts or _permanent(error)
            changes: dict[str, Any] = {
                "attempts": attempts,
                "last_error": f"{type(error).__name__}: {error}"[:500],
                "state": "failed" if failed else "pending",
            }
            if not failed:
                changes["next_attempt_at"] = time.time() + self.retry.delay(attempts)
            await self.docs.update("mail_outbox", {"id": row["id"], "state": "sending"}, changes)
            log.warning(
                "mail %s to the outbox's recipient not sent (attempt %d): %s", row["id"], attempts, error
            )
            self._count("failed" if failed else "retried")
            return 0
        await self.docs.update(
            "mail_outbox",
            {"id": row["id"], "state": "sending"},
            {"state": "sent", "attempts": attempts, "sent_at": time.time(), "text": "", "html": ""},
        )
        self._count("sent")
        return 1

    async def _release_stale(self, now: float) -> None:
        for row in await self.docs.find("mail_outbox", {"state": "sending"}, limit=ROUND_LIMIT):
            claimed_at = float(row.get("claimed_at") or 0)
            if claimed_at < now - CLAIM_LEASE_S:
                await self.docs.update(
                    "mail_outbox",
                    {"id": row["id"], "state": "sending", "claimed_at": row.get("claimed_at")},
                    {"state": "pending", "attempts": int(row["attempts"]) + 1, "next_attempt_at": now},
                )

    async def _purge(self, now: float) -> None:
        for state, stamp in (("sent", "sent_at"), ("failed", "created_at")):
            rows = await self.docs.find("mail_outbox", {"state": state}, sort=stamp, limit=500)
            for row in rows:
                if float(row.get(stamp) or 0) >= now - KEEP_DONE_S:
                    break
                await self.docs.delete("mail_outbox", {"id": row["id"], "state": state})

    async def counts(self) -> dict[str, int]:
        """How many outbox messages are in each state."""
        return {state: await self.docs.count("mail_outbox", {"state": state}) for state in STATES}

    async def publish_counts(self) -> None:
        """Hand the current counts to the metrics."""
        if self.on_counts is not None:
            self.on_counts(await self.counts())

    def _count(self, outcome: str) -> None:
        if self.on_outcome is not None:
            self.on_outcome(outcome)


def delivery_from_env(
    docs: DocumentStore, settings: MailSettings | None, env: Mapping[str, str], **callbacks: Any
) -> MailDelivery:
    """A MailDelivery with EDDY_MAIL_POLL_S (default 2) and EDDY_MAIL_RETRY_BASE_S (default 30, doubling
    up to an hour, 8 attempts)."""
    return MailDelivery(
        docs,
        settings,
        poll_s=float(env.get("EDDY_MAIL_POLL_S", 2.0)),
        retry=RetryPolicy(base_s=float(env.get("EDDY_MAIL_RETRY_BASE_S", 30.0))),
        **callbacks,
    )
