"""Who is calling: a signed-in person (bearer access token) or a machine (API key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

KeyKind = Literal["public", "secret"]
Role = Literal["viewer", "admin", "owner"]
ROLE_RANK: dict[str, int] = {"viewer": 1, "admin": 2, "owner": 3}


@dataclass(frozen=True)
class UserPrincipal:
    """A person authenticated by an access token. `session` is the refresh-token family id."""

    user_id: str
    session: str


@dataclass(frozen=True)
class KeyPrincipal:
    """A machine authenticated by an API key of one site."""

    key_id: str
    site_id: str
    kind: KeyKind
