"""Invitations: the only way onto a team (L1). Invite, list, revoke, accept as a new account (even under
EDDY_REGISTRATION=invite, with the link read from a real SMTP server) or as an existing one (signed in, or
with its password), single use, and the same answer for addresses with and without an account."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.accounts import PASSWORD, invite, make_site, register, signup, unique_email
from tests.support.api import Api
from tests.support.smtp_sink import SmtpSink, text_of, to, token_in

ACCEPT = "/api/v1/invitations/accept"


async def test_new_person_accepts_with_a_password_once(api: Api, ctx: Any) -> None:
    owner = await signup(api)
    site = await make_site(api, owner)
    email = unique_email("newcomer")
    token = await invite(api, owner, site["id"], email, "admin")
    listed = await api.get(f"/api/v1/sites/{site['id']}/invitations", token=owner)
    assert [(i["email"], i["role"], i["mailed"]) for i in listed.json["invitations"]] == [
        (email, "admin", False)
    ]
    missing = await api.post(ACCEPT, json={"token": token})
    assert missing.status == 422 and missing.error_code == "password_required"
    short = await api.post(ACCEPT, json={"token": token, "password": "short"})
    assert short.status == 422
    accepted = await api.post(ACCEPT, json={"token": token, "password": PASSWORD, "name": "New"})
    assert accepted.status == 200 and accepted.json["site_id"] == site["id"]
    # Without mail the link passed through the owner's hands: the address is not verified by it.
    assert accepted.json["user"]["email"] == email and accepted.json["user"]["email_verified"] is False
    mine = await api.get("/api/v1/sites", token=accepted.json["access_token"])
    assert [(s["id"], s["role"]) for s in mine.json["sites"]] == [(site["id"], "admin")]
    again = await api.post(ACCEPT, json={"token": token, "password": PASSWORD})
    assert again.status == 422 and again.error_code == "invalid_token"
    assert (await api.get(f"/api/v1/sites/{site['id']}/invitations", token=owner)).json["invitations"] == []
    stored = await ctx.stores.docs.find("invitations", {"site_id": site["id"]})
    assert token not in str(stored)


async def test_existing_account_must_prove_it_is_theirs(api: Api) -> None:
    owner = await signup(api)
    site = await make_site(api, owner)
    member = await register(api)
    stranger = await register(api)
    email = member["user"]["email"]
    token = await invite(api, owner, site["id"], email)
    anonymous = await api.post(ACCEPT, json={"token": token})
    assert anonymous.status == 401 and anonymous.error_code == "sign_in_required"
    wrong = await api.post(ACCEPT, json={"token": token, "password": "not the password"})
    assert wrong.status == 401
    other = await api.post(ACCEPT, json={"token": token}, token=stranger["access_token"])
    assert other.status == 401 and other.error_code == "sign_in_required"
    assert (await api.get(f"/api/v1/sites/{site['id']}", token=member["access_token"])).status == 404
    accepted = await api.post(ACCEPT, json={"token": token}, token=member["access_token"])
    assert accepted.status == 200 and accepted.json["user"]["id"] == member["user"]["id"]
    assert (await api.get(f"/api/v1/sites/{site['id']}", token=member["access_token"])).status == 200


async def test_l1_inviting_answers_alike_and_only_the_owner_invites(api: Api) -> None:
    owner = await signup(api)
    site = await make_site(api, owner)
    existing = await register(api)
    base = f"/api/v1/sites/{site['id']}"
    known = await api.post(f"{base}/invitations", json={"email": existing["user"]["email"]}, token=owner)
    unknown = await api.post(f"{base}/invitations", json={"email": unique_email()}, token=owner)
    assert known.status == unknown.status == 201
    assert set(known.json) == set(unknown.json) and set(known.json["invitation"]) == set(
        unknown.json["invitation"]
    )
    # Nobody is on the team until they accept.
    assert (await api.get(f"{base}/members", token=owner)).json["members"] == []
    assert (await api.get(f"{base}/invitations", token=existing["access_token"])).status == 404
    bad = await api.post(f"{base}/invitations", json={"email": "nope", "role": "owner"}, token=owner)
    assert bad.status == 422


async def test_revoked_and_replaced_invitations_stop_working(api: Api) -> None:
    owner = await signup(api)
    site = await make_site(api, owner)
    email = unique_email("revoked")
    first = await invite(api, owner, site["id"], email)
    second = await invite(api, owner, site["id"], email, "admin")  # replaces the first
    assert (await api.post(ACCEPT, json={"token": first, "password": PASSWORD})).status == 422
    pending = (await api.get(f"/api/v1/sites/{site['id']}/invitations", token=owner)).json["invitations"]
    assert len(pending) == 1 and pending[0]["role"] == "admin"
    gone = await api.delete(
        f"/api/v1/sites/{site['id']}/invitations/{pending[0]['id']}", token=owner, expect_json=False
    )
    assert gone.status == 204
    assert (
        await api.delete(f"/api/v1/sites/{site['id']}/invitations/{pending[0]['id']}", token=owner)
    ).status == 404
    refused = await api.post(ACCEPT, json={"token": second, "password": PASSWORD})
    assert refused.status == 422 and refused.error_code == "invalid_token"


class TestInviteOnlyWithMail:
    @pytest.fixture
    def app_config(self, sink: SmtpSink) -> dict[str, Any]:
        return sink.app_config(registration="invite")

    async def test_a_new_person_joins_through_the_mailed_link(self, api: Api, sink: SmtpSink) -> None:
        admin = await register(api)  # the first account of the instance
        site = await make_site(api, admin["access_token"], name="Bakery")
        email = unique_email("invitee")
        answer = await api.post(
            f"/api/v1/sites/{site['id']}/invitations",
            json={"email": email, "role": "viewer"},
            token=admin["access_token"],
        )
        assert answer.status == 201 and answer.json["link"] is None and answer.json["invitation"]["mailed"]
        mail = await sink.wait_for(to(email))
        assert "Bakery" in str(mail["Subject"]) and "as viewer" in text_of(mail)
        refused = await api.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert refused.status == 403 and refused.error_code == "invitation_required"
        accepted = await api.post(ACCEPT, json={"token": token_in(mail, "/invite"), "password": PASSWORD})
        assert accepted.status == 200 and accepted.json["user"]["email_verified"] is True
        sites = await api.get("/api/v1/sites", token=accepted.json["access_token"])
        assert [(s["name"], s["role"]) for s in sites.json["sites"]] == [("Bakery", "viewer")]
        login = await api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status == 200
