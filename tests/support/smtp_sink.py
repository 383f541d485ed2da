"""A real SMTP server in-process (aiosmtpd on a free loopback port, in its own thread) that keeps every
message it receives, for tests that read the mail Eddy sends.

sink = SmtpSink().start()             # env: sink.env() -> {"EDDY_SMTP_URL": "smtp://127.0.0.1:PORT", ...}
message = await sink.wait_for(lambda m: m["To"] == email)
link = sink.link(message, "/reset")   # the first <public-url>/reset#token=... link in its text
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from domain.mail.settings import mail_settings
from tests.support.ports import free_port
from tests.support.until import until, until_sync

LINK = re.compile(r"https?://[^\s<>\"]+#token=[A-Za-z0-9_\-]+")
PUBLIC_URL = "http://eddy.test"  # the public URL of an in-process app that mails (links start with it)


class _Keep:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append(message)  # type: ignore[arg-type]
            self.sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


class SmtpSink:
    """An SMTP server that can be stopped and started again on the same port (an outage)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> SmtpSink:
        """Listen (again) on the port."""
        self._controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening (connections are then refused)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def env(self) -> dict[str, str]:
        """The EDDY_* settings that send Eddy's mail here."""
        return {"EDDY_SMTP_URL": f"smtp://127.0.0.1:{self.port}", "EDDY_MAIL_FROM": "Eddy <eddy@eddy.test>"}

    def config(self) -> dict[str, Any]:
        """The Config fields that send Eddy's mail here."""
        return {"mail": mail_settings(self.env())}

    def app_config(self, **overrides: Any) -> dict[str, Any]:
        """`app_config` for an in-process app that mails here, with its outbox polled often (20 Hz) and
        `overrides` on top."""
        return {"public_url": PUBLIC_URL, **self.config(), "mail_poll_s": 0.05, **overrides}

    def received(self, match: Callable[[EmailMessage], bool] = lambda _m: True) -> list[EmailMessage]:
        """Messages received so far that match."""
        with self.lock:
            return [message for message in self.messages if match(message)]

    async def wait_for(
        self, match: Callable[[EmailMessage], bool] = lambda _m: True, timeout: float = 15.0
    ) -> EmailMessage:
        """The first received message that matches, waiting for it (the test fails past `timeout`)."""
        found = await until(lambda: self.received(match), timeout, 0.02, "no matching mail arrived")
        return found[0]

    def wait_for_sync(
        self, match: Callable[[EmailMessage], bool] = lambda _m: True, timeout: float = 15.0
    ) -> EmailMessage:
        """`wait_for` for sync tests (browser tests)."""
        return until_sync(lambda: self.received(match), timeout, 0.02, "no matching mail arrived")[0]


def to(address: str) -> Callable[[EmailMessage], bool]:
    """Match messages addressed to `address`."""
    return lambda message: address.lower() in str(message["To"]).lower()


def text_of(message: EmailMessage) -> str:
    """The plain-text part."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "the message has no text part"
    return str(part.get_content()).replace("\r\n", "\n")


def html_of(message: EmailMessage) -> str:
    """The HTML part."""
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "the message has no HTML part"
    return str(part.get_content())


def link_in(message: EmailMessage, page: str) -> str:
    """The first `<base>/<page>#token=...` link of the text part."""
    for link in LINK.findall(text_of(message)):
        if link.split("#")[0].endswith(page):
            return link
    raise AssertionError(f"no {page} link in: {text_of(message)}")


def token_in(message: EmailMessage, page: str) -> str:
    """The token of that link."""
    return link_in(message, page).split("#token=", 1)[1]
