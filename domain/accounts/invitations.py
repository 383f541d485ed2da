"""Invitations to a site's team: the only way onto a team (L1: adding someone never happens without them,
and the answer never says whether an address has an account).

`invitations`: {id, site_id, email, role, token_hash, invited_by, state: pending|accepted|revoked, mailed,
created_at, expires_at}. The owner invites an address with a role; the invitee opens
`<public-url>/invite#token=...` and accepts:
- no account with the address: they choose a password and the account is created, whatever the
  registration mode (the invitation is the permit); its address counts as verified when the link came by
  mail (reading it proves the mailbox);
- an account exists: they prove it is theirs (signed in as it, or its password and second factor).
Without mail the owner gets the link in the answer to pass on, and the address stays unverified. Only an
HMAC of the token is stored; accepting is a compare-and-set (`pending -> accepted`), so a link works once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec

from domain.accounts.sessions import SessionService
from domain.accounts.site_docs import StoredSite, stored_site
from domain.accounts.tokens import new_id
from domain.accounts.users import (
    AuthAnswer,
    Email,
    GivenPassword,
    Name,
    NewPassword,
    TotpCode,
    UserService,
    auth_answer,
)
from domain.errors import Conflict, Invalid, NotFound, Unauthorized
from domain.mail import templates
from domain.mail.outbox import Mailer
from storage.errors import DuplicateKeyError
from storage.ports import DocumentStore

InviteRole = Literal["viewer", "admin"]
TTL_S = 7 * 24 * 3600.0
MAX_PENDING = 100


class InvitationIn(msgspec.Struct, forbid_unknown_fields=True):
    """Who to invite, with which role."""

    email: Email
    role: InviteRole = "viewer"


class AcceptIn(msgspec.Struct, forbid_unknown_fields=True):
    """The link's token; a password (a new one for a new account, else the account's own) unless signed
    in as the invited account; `code` when that account has two-factor sign-in on."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    password: GivenPassword | None = None
    code: TotpCode | None = None
    name: Name = ""


class InvitationOut(msgspec.Struct, kw_only=True):
    """A pending invitation as the owner sees it."""

    id: str
    site_id: str
    email: str
    role: str
    created_at: float
    expires_at: float
    mailed: bool


class InvitationAnswer(msgspec.Struct, kw_only=True):
    """`{invitation}`, and the link to pass on when this server cannot mail it."""

    invitation: InvitationOut
    link: str | None = None


class InvitationList(msgspec.Struct):
    """`{invitations}`: the pending ones, newest first."""

    invitations: Annotated[list[InvitationOut], msgspec.Meta(max_length=MAX_PENDING)]


class AcceptAnswer(AuthAnswer, kw_only=True):
    """Signed in (as register and login answer), on the team of `site_id`."""

    site_id: str


def _out(doc: dict[str, Any]) -> InvitationOut:
    return InvitationOut(
        id=doc["id"],
        site_id=doc["site_id"],
        email=doc["email"],
        role=doc["role"],
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        mailed=bool(doc.get("mailed")),
    )


@dataclass(eq=False)
class InvitationService:
    """Invites, lists, revokes and accepts."""

    docs: DocumentStore
    users: UserService
    sessions: SessionService
    mailer: Mailer
    hash_key: bytes = field(repr=False)  # a secret: never in a repr or a log line

    def _hash(self, token: str) -> str:
        return hmac.new(self.hash_key, f"invitation:{token}".encode(), hashlib.sha256).hexdigest()

    async def create(self, site: StoredSite, inviter_id: str, body: InvitationIn) -> InvitationAnswer:
        """Invite an address (an earlier pending invitation of it to this site is replaced)."""
        email = body.email.strip().lower()
        pending = await self._pending(site.id)
        for old in pending:
            if old["email"] == email:
                await self.docs.update(
                    "invitations", {"id": old["id"], "state": "pending"}, {"state": "revoked"}
                )
        if len(pending) >= MAX_PENDING:
            raise Conflict(
                f"a site has at most {MAX_PENDING} pending invitations", code="too_many_invitations"
            )
        token = secrets.token_urlsafe(32)
        now = time.time()
        doc = {
            "id": new_id(),
            "site_id": site.id,
            "email": email,
            "role": body.role,
            "token_hash": self._hash(token),
            "invited_by": inviter_id,
            "state": "pending",
            "mailed": self.mailer.enabled,
            "created_at": now,
            "expires_at": now + TTL_S,
        }
        await self.docs.insert("invitations", doc)
        if not self.mailer.enabled:
            base = self.mailer.public_url or ""
            return InvitationAnswer(invitation=_out(doc), link=f"{base}/invite#token={token}")
        inviter = await self.docs.get("users", inviter_id) or {}
        who = inviter.get("name") or inviter.get("email") or "A site owner"
        mail = templates.invitation(self.mailer.link("invite", token), site.name, who, body.role)
        await self.mailer.send(email, mail.subject, mail.text, mail.html, kind="invitation")
        return InvitationAnswer(invitation=_out(doc))

    async def _pending(self, site_id: str) -> list[dict[str, Any]]:
        rows = await self.docs.find(
            "invitations", {"site_id": site_id, "state": "pending"}, sort="created_at", descending=True
        )
        now = time.time()
        return [row for row in rows if float(row["expires_at"]) > now]

    async def list(self, site: StoredSite) -> list[InvitationOut]:
        """Pending invitations of a site."""
        return [_out(row) for row in (await self._pending(site.id))[:MAX_PENDING]]

    async def revoke(self, site: StoredSite, invitation_id: str) -> None:
        """Withdraw a pending invitation (404 when there is none with this id)."""
        done = await self.docs.update(
            "invitations",
            {"id": invitation_id, "site_id": site.id, "state": "pending"},
            {"state": "revoked"},
        )
        if done != 1:
            raise NotFound("no such pending invitation")

    async def accept(self, body: AcceptIn, signed_in_user: str | None) -> AcceptAnswer:
        """Join the team (creating the account if the address has none) and sign in."""
        refused = Invalid(
            "This invitation is invalid, expired, withdrawn or already used.", code="invalid_token"
        )
        rows = await self.docs.find("invitations", {"token_hash": self._hash(body.token)}, limit=1)
        if not rows or rows[0]["state"] != "pending" or float(rows[0]["expires_at"]) <= time.time():
            raise refused
        invitation = rows[0]
        doc = await self.docs.get("sites", invitation["site_id"])
        if doc is None:
            raise refused
        site = stored_site(doc)
        user = await self.users.find_by_email(invitation["email"])
        if user is None:
            user = await self._new_account(invitation, body)
        elif signed_in_user != user["id"]:
            if body.password is None:
                raise Unauthorized(
                    "An account with this address exists: sign in as it (or give its password) to accept.",
                    code="sign_in_required",
                )
            await self.users.check_password(user, body.password)
            if self.users.second_factor is not None:
                await self.users.second_factor(user, body.code)
        claimed = await self.docs.update(
            "invitations",
            {"id": invitation["id"], "state": "pending"},
            {"state": "accepted", "accepted_at": time.time(), "user_id": user["id"]},
        )
        if claimed != 1:
            raise refused
        if user["id"] != site.owner_id:
            member = {
                "id": new_id(),
                "site_id": site.id,
                "user_id": user["id"],
                "role": invitation["role"],
                "created_at": time.time(),
            }
            try:
                await self.docs.insert("members", member)
            except DuplicateKeyError:
                await self.docs.update(
                    "members", {"site_id": site.id, "user_id": user["id"]}, {"role": invitation["role"]}
                )
        pair = await self.sessions.start(user["id"])
        return AcceptAnswer(site_id=site.id, **msgspec.structs.asdict(auth_answer(user, pair)))

    async def _new_account(self, invitation: dict[str, Any], body: AcceptIn) -> dict[str, Any]:
        if body.password is None:
            raise Invalid(
                "Choose a password for your new account.",
                code="password_required",
                fields={"password": "required"},
            )
        try:
            msgspec.convert(body.password, NewPassword)
        except msgspec.ValidationError:
            raise Invalid(
                "A password has 8 to 1024 characters.", fields={"password": "8 to 1024 characters"}
            ) from None
        password_hash = await self.users.hash_password(body.password)
        return await self.users.create(
            invitation["email"], body.name, password_hash, email_verified=bool(invitation.get("mailed"))
        )
