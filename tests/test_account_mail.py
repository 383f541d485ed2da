"""Account flows through a real SMTP server (aiosmtpd in-process): sign-up that never tells whether an
address is taken (L1), the verification link, email change, and password reset (202 always, single use,
30 minutes, stored only as a hash, every session ended)."""

from __future__ import annotations

from typing import Any

import pytest

from domain.accounts import account_tokens
from handlers.context import AppContext
from tests.support.accounts import PASSWORD, register, unique_email
from tests.support.api import Api
from tests.support.smtp_sink import PUBLIC_URL, SmtpSink, html_of, text_of, to, token_in


@pytest.fixture
def app_config(sink: SmtpSink) -> dict[str, Any]:
    return sink.app_config()


async def _sign_up(api: Api, email: str, password: str = PASSWORD) -> Any:
    return await api.post("/api/v1/auth/register", json={"email": email, "password": password})


async def test_l1_sign_up_answers_alike_for_taken_and_new_addresses(api: Api, sink: SmtpSink) -> None:
    await register(api)  # the first account (instance admin) signs in at once
    taken = unique_email("taken")
    await _sign_up(api, taken)  # registered now, with its owner's password
    new = unique_email("new")
    again = await _sign_up(api, taken, "someone else's password")
    fresh = await _sign_up(api, new)
    assert again.status == fresh.status == 202
    assert again.json == fresh.json and fresh.json["status"] == "check_your_email"
    assert "access_token" not in fresh.json
    # The owner of the taken address hears about it; the newcomer gets a verification link.
    notice = await sink.wait_for(lambda m: to(taken)(m) and "tried to sign up" in str(m["Subject"]))
    assert "already has one" in text_of(notice)
    welcome = await sink.wait_for(to(new))
    assert token_in(welcome, "/verify")
    # The newcomer may sign in before verifying; the second attempt's password opens nothing.
    login = await api.post("/api/v1/auth/login", json={"email": new, "password": PASSWORD})
    assert login.status == 200 and login.json["user"]["email_verified"] is False
    intruder = await api.post(
        "/api/v1/auth/login", json={"email": taken, "password": "someone else's password"}
    )
    assert intruder.status == 401


async def test_verification_link_verifies_once(api: Api, sink: SmtpSink) -> None:
    email = unique_email("verify")
    account = await register(api, email)
    mail = await sink.wait_for(to(email))
    assert mail["Subject"] == "Confirm your email address"
    link = token_in(mail, "/verify")
    assert f"{PUBLIC_URL}/verify#token={link}" in html_of(mail)
    done = await api.post("/api/v1/auth/verify-email", json={"token": link})
    assert done.status == 200 and done.json["user"]["email_verified"] is True
    me = await api.get("/api/v1/auth/me", token=account["access_token"])
    assert me.json["user"]["email_verified"] is True
    reused = await api.post("/api/v1/auth/verify-email", json={"token": link})
    assert reused.status == 422 and reused.error_code == "invalid_token"
    forged = await api.post("/api/v1/auth/verify-email", json={"token": "x" * 43})
    assert forged.status == 422


async def test_email_change_applies_only_when_the_new_address_confirms(api: Api, sink: SmtpSink) -> None:
    old, new = unique_email("old"), unique_email("new")
    account = await register(api, old)
    token = account["access_token"]
    wrong = await api.post(
        "/api/v1/auth/email", json={"email": new, "current_password": "not it at all"}, token=token
    )
    assert wrong.status == 401
    asked = await api.post(
        "/api/v1/auth/email", json={"email": new, "current_password": PASSWORD}, token=token
    )
    assert asked.status == 202
    mail = await sink.wait_for(to(new))
    assert (await api.get("/api/v1/auth/me", token=token)).json["user"]["email"] == old
    done = await api.post("/api/v1/auth/verify-email", json={"token": token_in(mail, "/verify")})
    assert done.json["user"]["email"] == new and done.json["user"]["email_verified"] is True
    assert (await api.post("/api/v1/auth/login", json={"email": new, "password": PASSWORD})).status == 200


async def test_password_reset_is_single_use_hashed_and_ends_every_session(
    api: Api, ctx: AppContext, sink: SmtpSink
) -> None:
    email = unique_email("reset")
    account = await register(api, email)
    second = await api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    unknown = await api.post("/api/v1/auth/password-reset", json={"email": unique_email("nobody")})
    asked = await api.post("/api/v1/auth/password-reset", json={"email": email.upper()})
    assert unknown.status == asked.status == 202 and unknown.json == asked.json
    mail = await sink.wait_for(lambda m: to(email)(m) and "Reset" in str(m["Subject"]))
    token = token_in(mail, "/reset")
    # Only the known address got a mail; only a hash of the token is stored.
    resets = [m for m in await ctx.stores.docs.find("mail_outbox", {"kind": "password_reset"})]
    assert len(resets) == 1
    for row in await ctx.stores.docs.find("account_tokens", {"purpose": "password_reset"}):
        assert token not in str(row)
    short = await api.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": "short"})
    assert short.status == 422
    done = await api.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "new password 42"}
    )
    assert done.status == 200 and done.json["status"] == "password_changed"
    for session in (account, second.json):
        assert (await api.get("/api/v1/auth/me", token=session["access_token"])).status == 401
        refreshed = await api.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert refreshed.status == 401
    again = await api.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "third password"}
    )
    assert again.status == 422 and again.error_code == "invalid_token"
    assert (await api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})).status == 401
    login = await api.post("/api/v1/auth/login", json={"email": email, "password": "new password 42"})
    assert login.status == 200 and login.json["user"]["email_verified"] is True


async def test_an_expired_reset_link_is_refused(
    api: Api, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = unique_email("late")
    await register(api, email)
    monkeypatch.setitem(account_tokens.TTL_S, account_tokens.PASSWORD_RESET, -1.0)
    await api.post("/api/v1/auth/password-reset", json={"email": email})
    mail = await sink.wait_for(lambda m: to(email)(m) and "Reset" in str(m["Subject"]))
    late = await api.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token_in(mail, "/reset"), "password": "new password 42"},
    )
    assert late.status == 422 and late.error_code == "invalid_token"
    assert (await api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})).status == 200


async def test_reset_requests_are_throttled_per_address(api: Api) -> None:
    email = unique_email("flood")
    await register(api, email)
    answers = [await api.post("/api/v1/auth/password-reset", json={"email": email}) for _ in range(4)]
    assert [a.status for a in answers] == [202, 202, 202, 429]
    assert answers[-1].headers["Retry-After"]


class TestWithoutMail:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {}

    async def test_mail_features_say_plainly_that_mail_is_off(self, api: Api) -> None:
        account = await register(api)
        reset = await api.post("/api/v1/auth/password-reset", json={"email": account["user"]["email"]})
        assert reset.status == 409 and reset.error_code == "mail_not_configured"
        assert (
            "EDDY_SMTP_URL" in reset.json["error"]["message"]
            and "python run.py admin" in reset.json["error"]["message"]
        )
        resend = await api.post("/api/v1/auth/verify-email/resend", token=account["access_token"])
        assert resend.status == 409 and resend.error_code == "mail_not_configured"
        # Without mail a taken address is told at sign-up: there is no other channel.
        taken = await _sign_up(api, account["user"]["email"])
        assert taken.status == 409
