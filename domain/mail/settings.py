"""Mail settings from the environment: `EDDY_SMTP_URL` and `EDDY_MAIL_FROM`.

- `smtp://user:pass@host:587`: plain SMTP upgraded with STARTTLS. With a user name STARTTLS is required
  (credentials never travel in clear); without one it is used whenever the server offers it (a local relay
  on port 25).
- `smtps://user:pass@host:465`: TLS from the first byte.
User and password are percent-decoded (`%40` for `@`). Without `EDDY_SMTP_URL` mail is off, and the features
that need it say so.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import parseaddr

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}


class MailSettingsError(ValueError):
    """The mail settings cannot be used (a sentence saying why)."""


@dataclass(frozen=True)
class MailSettings:
    """Where and how to send mail."""

    host: str
    port: int
    implicit_tls: bool
    require_starttls: bool
    username: str | None
    password: str | None
    sender: str
    timeout_s: float = 30.0

    @property
    def sender_domain(self) -> str:
        """The domain of the From address (for Message-IDs)."""
        return self.sender.rpartition("@")[2] or "localhost"


def mail_settings(env: Mapping[str, str]) -> MailSettings | None:
    """The settings in `env`, or None when `EDDY_SMTP_URL` is unset. Raises MailSettingsError on a bad
    URL or sender, so a misconfigured server fails at start rather than at the first mail."""
    url = (env.get("EDDY_SMTP_URL") or "").strip()
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise MailSettingsError("EDDY_SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise MailSettingsError("EDDY_SMTP_URL must name the SMTP host")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise MailSettingsError("EDDY_SMTP_URL has an invalid port") from None
    username = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password else None
    sender = (env.get("EDDY_MAIL_FROM") or "").strip() or f"eddy@{parts.hostname}"
    _name, address = parseaddr(sender)
    if "@" not in address:
        raise MailSettingsError("EDDY_MAIL_FROM must be an email address, like Eddy <eddy@example.com>")
    return MailSettings(
        host=parts.hostname,
        port=port,
        implicit_tls=parts.scheme == "smtps",
        require_starttls=parts.scheme == "smtp" and username is not None,
        username=username,
        password=password,
        sender=sender,
        timeout_s=float(env.get("EDDY_SMTP_TIMEOUT_S", 30)),
    )


def display_sender(settings: MailSettings) -> str:
    """The From header (a bare address gets Eddy's name)."""
    name, address = parseaddr(settings.sender)
    user, _, domain = address.partition("@")
    return str(Address(display_name=name or "Eddy", username=user, domain=domain))
