"""Who may create an account: `EDDY_REGISTRATION=open|invite|closed`.

- The first account of a fresh instance is its instance admin, and may always register (unless the mode
  is `closed`: then the operator creates it with `python run.py admin create-user`). The claim is a
  one-time insert, so two racing sign-ups cannot both become admin.
- After that the mode is the environment's when `EDDY_REGISTRATION` is set, else the one an instance admin
  chose in the dashboard, else `invite`: only an invitation (which names the email) creates an account.
- `closed`: nobody registers through the API; admins add people from the command line.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Literal

import msgspec

from domain.errors import Conflict, Forbidden
from storage.errors import DuplicateKeyError
from storage.ports import DocumentStore

Mode = Literal["open", "invite", "closed"]
MODES: tuple[str, ...] = ("open", "invite", "closed")
DEFAULT_MODE: Mode = "invite"
SETTINGS_ID = "settings"
FIRST_ACCOUNT_ID = "first_account"


class RegistrationSettings(msgspec.Struct, forbid_unknown_fields=True):
    """The registration mode an instance admin sets."""

    registration: Mode


class RegistrationOut(msgspec.Struct, kw_only=True):
    """The mode in force, and whether the environment fixes it (then the dashboard cannot change it)."""

    registration: str
    set_by_environment: bool


def env_mode(env: Mapping[str, str]) -> str | None:
    """The mode the environment sets, or None; SystemExit on a value that is not a mode."""
    value = (env.get("EDDY_REGISTRATION") or "").strip().lower()
    if not value:
        return None
    if value not in MODES:
        raise SystemExit("EDDY_REGISTRATION must be open, invite or closed")
    return value


class Registration:
    """The registration policy of an instance."""

    def __init__(self, docs: DocumentStore, fixed_mode: str | None) -> None:
        self._docs = docs
        self.fixed_mode = fixed_mode

    async def mode(self) -> str:
        """The mode in force now."""
        if self.fixed_mode is not None:
            return self.fixed_mode
        stored = await self._docs.get("instance", SETTINGS_ID)
        mode = (stored or {}).get("registration")
        return mode if mode in MODES else DEFAULT_MODE

    async def describe(self) -> RegistrationOut:
        """The mode and where it comes from."""
        return RegistrationOut(registration=await self.mode(), set_by_environment=self.fixed_mode is not None)

    async def set_mode(self, mode: str) -> RegistrationOut:
        """Store the mode an instance admin chose (409 when the environment fixes it)."""
        if self.fixed_mode is not None:
            raise Conflict(
                "EDDY_REGISTRATION is set on the server, so the mode cannot be changed here",
                code="set_by_environment",
            )
        if await self._docs.update("instance", {"id": SETTINGS_ID}, {"registration": mode}) == 0:
            try:
                await self._docs.insert("instance", {"id": SETTINGS_ID, "registration": mode})
            except DuplicateKeyError:
                await self._docs.update("instance", {"id": SETTINGS_ID}, {"registration": mode})
        return await self.describe()

    async def claim_first_account(self) -> bool:
        """True exactly once per instance, for the first account while none exists yet."""
        if await self._docs.count("users", {}) > 0:
            return False
        try:
            await self._docs.insert("instance", {"id": FIRST_ACCOUNT_ID, "claimed_at": time.time()})
        except DuplicateKeyError:
            return False
        return True

    async def admit(self) -> bool:
        """Whether a self-service sign-up may go ahead: True when it is the first account (the instance
        admin), False when the mode is `open`; 403 `invitation_required` or `registration_closed` else."""
        mode = await self.mode()
        if mode != "closed" and await self.claim_first_account():
            return True
        if mode == "open":
            return False
        if mode == "invite":
            raise Forbidden(
                "Sign-up on this server is by invitation only: ask a site owner to invite you.",
                code="invitation_required",
            )
        raise Forbidden(
            "Sign-up on this server is closed: ask its administrator for an account.",
            code="registration_closed",
        )
