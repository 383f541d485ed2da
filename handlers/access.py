"""Authenticating route decorators. Each also declares its policy for the route walk test.

- `@authenticated`: a person with a bearer access token; sets `self.principal` (UserPrincipal). People
  are held to the per-user API rate limit (429 + Retry-After) by both decorators.
- `@bearer_or_secret_key`: a person, or a machine with a *secret* API key in `X-Api-Key`; sets
  `self.principal` (UserPrincipal or KeyPrincipal). Use `await self.site_for(site_id, need)` after it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from domain.errors import Unauthorized
from handlers.policy import declare

F = TypeVar("F", bound=Callable[..., Any])


async def _call(method: Callable[..., Any], handler: Any, args: Any, kwargs: Any) -> Any:
    result = method(handler, *args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


def authenticated(method: F) -> F:
    """Require a valid bearer access token with a live session."""

    @functools.wraps(method)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        self.principal = await self.ctx.bearer.authenticate(self.request.headers.get("Authorization"))
        await self.ctx.accounts.throttle.api(self.principal.user_id)  # per-user API rate limit (429)
        return await _call(method, self, args, kwargs)

    return declare("bearer")(wrapper)  # type: ignore[return-value]


def bearer_or_secret_key(method: F) -> F:
    """Require a bearer access token, or a secret API key in X-Api-Key."""

    @functools.wraps(method)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        raw_key = self.request.headers.get("X-Api-Key")
        if raw_key and not self.request.headers.get("Authorization"):
            throttle = self.ctx.accounts.throttle
            ip = self.request.remote_ip or ""
            await throttle.credential_allowed(ip)  # 429 for an address guessing keys
            principal = await self.ctx.keys.authenticate(raw_key.strip())
            if principal is None:
                await throttle.credential_failed(ip)
                raise Unauthorized("invalid, revoked or expired API key", code="invalid_key")
            if principal.kind != "secret":
                raise Unauthorized("this needs a secret key", code="wrong_key_kind")
            await throttle.api_key(principal.key_id)  # per-key API rate limit (429)
            self.principal = principal
        else:
            self.principal = await self.ctx.bearer.authenticate(self.request.headers.get("Authorization"))
            await self.ctx.accounts.throttle.api(self.principal.user_id)
        return await _call(method, self, args, kwargs)

    return declare("bearer_or_secret_key")(wrapper)  # type: ignore[return-value]
