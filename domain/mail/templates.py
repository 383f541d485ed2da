"""The account mails Eddy sends: each a subject, a plain-text body and an HTML body (no remote images,
every value escaped)."""

from __future__ import annotations

import html
from dataclasses import dataclass


@dataclass(frozen=True)
class Mail:
    """One message's content."""

    subject: str
    text: str
    html: str


def _page(paragraphs: list[str], link: str | None = None, link_label: str = "") -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    if link:
        body += f'<p><a href="{html.escape(link, quote=True)}">{html.escape(link_label)}</a></p>'
    return (
        '<!doctype html><html><body style="font-family:system-ui,sans-serif;max-width:36em">'
        f'{body}<p style="color:#666">Eddy analytics</p></body></html>'
    )


def _mail(subject: str, paragraphs: list[str], link: str | None = None, label: str = "") -> Mail:
    text = "\n\n".join(paragraphs + ([link] if link else [])) + "\n\n-- \nEddy analytics\n"
    return Mail(subject, text, _page(paragraphs, link, label))


def verify_email(link: str, new_address: bool) -> Mail:
    """The link that verifies an address (on sign-up, or before an email change takes effect)."""
    first = (
        "Someone asked to change the email of an Eddy account to this address."
        if new_address
        else "Welcome to Eddy. Please confirm that this address is yours."
    )
    return _mail(
        "Confirm your email address",
        [first, "Open this link within 7 days to confirm. If it was not you, ignore this message."],
        link,
        "Confirm this address",
    )


def password_reset(link: str) -> Mail:
    """The password reset link."""
    return _mail(
        "Reset your Eddy password",
        [
            "Someone asked to reset the password of the Eddy account with this address.",
            "Open this link within 30 minutes to choose a new password; it works once, and every session "
            "of the account ends when it is used. If it was not you, ignore this message: nothing changes.",
        ],
        link,
        "Choose a new password",
    )


def already_registered(login_url: str) -> Mail:
    """Told to the owner of an address when someone tries to sign up with it again."""
    return _mail(
        "Someone tried to sign up with your address",
        [
            "Someone tried to create an Eddy account with this address, which already has one.",
            "If it was you, sign in instead, or reset your password from the sign-in page. "
            "If it was not you, you need do nothing.",
        ],
        login_url,
        "Sign in",
    )


def invitation(link: str, site_name: str, inviter: str, role: str) -> Mail:
    """An invitation to a site's team."""
    return _mail(
        f"You are invited to {site_name} on Eddy",
        [
            f"{inviter} invited you to see the analytics of {site_name} on Eddy as {role}.",
            "Open this link within 7 days to accept (you can create an account there if you have none). "
            "If you do not want to join, ignore this message.",
        ],
        link,
        "Accept the invitation",
    )
