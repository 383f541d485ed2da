"""Two-factor sign-in with TOTP (RFC 6238: 6 digits, 30-second steps, pyotp), set up with a QR code
(segno, an SVG data URI: no remote image), with 10 one-use recovery codes shown once.

The user document's `totp`: {enabled, secret, pending_secret?, last_step, recovery: [HMACs]} and a
top-level `totp_rev` counter every change compare-and-sets, so two requests presenting the same code (or
the same recovery code) cannot both pass. A code is accepted one step early or late (clock drift), and
only for a step after the last one used: a replayed code is refused. Recovery codes are stored only as
HMACs and each works once.

Once on, the second factor is asked at sign-in (`code` beside the password: 401 `two_factor_required`
without it, `invalid_code` when wrong) and to change the email, the password or two-factor itself; its
attempts are throttled per account like passwords. Google sign-in is refused for such accounts (the
password and code are the way in), so it cannot go around the second factor; a password reset does not
switch it off either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from typing import Annotated, Any

import msgspec
import pyotp
import segno

from domain.accounts.throttle import Limit, Throttle
from domain.accounts.users import GivenPassword, TotpCode, UserService
from domain.errors import Conflict, Unauthorized
from storage.ports import DocumentStore

ISSUER = "Eddy"
RECOVERY_CODES = 10
CODE_ATTEMPTS = Limit(10, 600.0)
_DIGITS = re.compile(r"[0-9]{6}")


class PasswordConfirm(msgspec.Struct, forbid_unknown_fields=True):
    """The current password (to start setting up two-factor sign-in)."""

    current_password: GivenPassword


class CodeIn(msgspec.Struct, forbid_unknown_fields=True):
    """A code from the authenticator app (finishes the setup)."""

    code: TotpCode


class PasswordAndCode(msgspec.Struct, forbid_unknown_fields=True):
    """The current password and a code (or a recovery code)."""

    current_password: GivenPassword
    code: TotpCode


class SetupOut(msgspec.Struct, kw_only=True):
    """What the authenticator app needs: the secret, as a QR code too."""

    secret: str
    otpauth_uri: str
    qr_svg_data_uri: str


class RecoveryCodesOut(msgspec.Struct, kw_only=True):
    """Recovery codes, shown this once (each works once in place of a code)."""

    recovery_codes: Annotated[list[str], msgspec.Meta(max_length=RECOVERY_CODES)]


class TwoFactorOut(msgspec.Struct, kw_only=True):
    """Whether two-factor sign-in is on, and how many recovery codes are left."""

    enabled: bool
    recovery_codes_left: int


def _normalise_recovery(code: str) -> str:
    return re.sub(r"[\s-]", "", code).lower()


class TwoFactor:
    """TOTP setup, checks and recovery codes."""

    def __init__(self, docs: DocumentStore, users: UserService, throttle: Throttle, hash_key: bytes) -> None:
        self._docs = docs
        self._users = users
        self._throttle = throttle
        self._key = hash_key

    def _recovery_hash(self, user_id: str, code: str) -> str:
        message = f"recovery:{user_id}:{_normalise_recovery(code)}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _new_recovery(self, user_id: str) -> tuple[list[str], list[str]]:
        codes = []
        for _ in range(RECOVERY_CODES):
            raw = secrets.token_hex(5)
            codes.append(f"{raw[:5]}-{raw[5:]}")
        return codes, [self._recovery_hash(user_id, code) for code in codes]

    async def _save(self, user: dict[str, Any], totp: dict[str, Any]) -> None:
        """Store `totp` if nobody changed it since `user` was read (401 `invalid_code` otherwise: a racing
        request used a code first)."""
        rev = int(user.get("totp_rev") or 0)
        done = await self._docs.update(
            "users", {"id": user["id"], "totp_rev": user.get("totp_rev")}, {"totp": totp, "totp_rev": rev + 1}
        )
        if done != 1:
            raise Unauthorized("this code was just used; enter the next one", code="invalid_code")

    def status(self, user: dict[str, Any]) -> TwoFactorOut:
        """Whether it is on, and the recovery codes left."""
        totp = user.get("totp") or {}
        return TwoFactorOut(
            enabled=bool(totp.get("enabled")), recovery_codes_left=len(totp.get("recovery") or [])
        )

    async def begin(self, user: dict[str, Any], password: str) -> SetupOut:
        """A new secret waiting for its first code (the password is checked first)."""
        await self._users.check_password(user, password)
        totp = dict(user.get("totp") or {})
        if totp.get("enabled"):
            raise Conflict("two-factor sign-in is already on", code="two_factor_enabled")
        secret = pyotp.random_base32()
        totp["pending_secret"] = secret
        await self._save(user, totp)
        uri = pyotp.TOTP(secret).provisioning_uri(name=user["email"], issuer_name=ISSUER)
        qr = segno.make(uri, error="m").svg_data_uri(scale=4, border=2)
        return SetupOut(secret=secret, otpauth_uri=uri, qr_svg_data_uri=qr)

    async def enable(self, user: dict[str, Any], code: str) -> RecoveryCodesOut:
        """Turn it on with a first code from the app; returns the recovery codes (shown once)."""
        totp = dict(user.get("totp") or {})
        secret = totp.get("pending_secret")
        if totp.get("enabled") or not secret:
            raise Conflict("start the setup first", code="no_setup")
        await self._throttle.hit_limit(f"2fa:{user['id']}", CODE_ATTEMPTS, "too many codes tried")
        step = self._matching_step(secret, code, int(totp.get("last_step") or 0))
        if step is None:
            raise Unauthorized(
                "that code is not right; check the app's clock and try the next one", code="invalid_code"
            )
        codes, hashes = self._new_recovery(user["id"])
        await self._save(user, {"enabled": True, "secret": secret, "last_step": step, "recovery": hashes})
        return RecoveryCodesOut(recovery_codes=codes)

    async def disable(self, user: dict[str, Any], password: str, code: str) -> None:
        """Turn it off (password and a code)."""
        await self._users.check_password(user, password)
        await self.check(user, code)
        fresh = await self._users.get(user["id"])
        await self._save(fresh, {"enabled": False})

    async def regenerate(self, user: dict[str, Any], password: str, code: str) -> RecoveryCodesOut:
        """New recovery codes (the old ones stop working)."""
        await self._users.check_password(user, password)
        await self.check(user, code)
        fresh = await self._users.get(user["id"])
        codes, hashes = self._new_recovery(user["id"])
        await self._save(fresh, {**(fresh.get("totp") or {}), "recovery": hashes})
        return RecoveryCodesOut(recovery_codes=codes)

    def _matching_step(self, secret: str, code: str, last_step: int) -> int | None:
        if not _DIGITS.fullmatch(code):
            return None
        totp = pyotp.TOTP(secret)
        now = time.time()
        current = totp.timecode(now)  # type: ignore[arg-type]
        for offset in (0, -1, 1):
            step = current + offset
            if step > last_step and hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
                return step
        return None

    async def check(self, user: dict[str, Any], code: str | None) -> None:
        """Pass when two-factor sign-in is off, or `code` is a fresh TOTP code or an unused recovery code
        (spent now); 401 `two_factor_required` / `invalid_code` otherwise (attempts throttled)."""
        totp = user.get("totp") or {}
        if not totp.get("enabled"):
            return
        if not code:
            raise Unauthorized(
                "Enter the 6-digit code from your authenticator app (or a recovery code).",
                code="two_factor_required",
            )
        await self._throttle.hit_limit(f"2fa:{user['id']}", CODE_ATTEMPTS, "too many codes tried")
        step = self._matching_step(totp["secret"], code.strip(), int(totp.get("last_step") or 0))
        if step is not None:
            await self._save(user, {**totp, "last_step": step})
            return
        hashed = self._recovery_hash(user["id"], code)
        left = [h for h in totp.get("recovery") or [] if not hmac.compare_digest(h, hashed)]
        if len(left) == len(totp.get("recovery") or []):
            raise Unauthorized("that code is not right (or was already used)", code="invalid_code")
        await self._save(user, {**totp, "recovery": left})
