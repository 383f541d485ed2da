"""Authenticating route decorators: each enforces who may call a method and declares it (handlers/policy.py).

`@authorized(permission)` states the permission a method needs, checked before its body runs:
- `account`: a signed-in person (a bearer access token with a live session);
- `site:view`, `site:admin`, `site:owner`: a person holding at least that role on the site named by the
  route's first path argument; the site is then `self.site` (404 when they cannot see the site, 403 when
  they see it with a lower role);
- `instance:admin`: a person whose account is an instance admin (403 otherwise).
`secret_key=True` (with `site:view` only: keys read, never change) also lets in a machine with a secret
API key of that very site in `X-Api-Key`. The caller is `self.principal` (UserPrincipal or KeyPrincipal).
People are held to the per-user API rate limit, keys to the per-key one (429 + Retry-After).
`@authenticated` is `@authorized("account")`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Literal, TypeVar, get_args

from domain.accounts.principals import KeyPrincipal, Role, UserPrincipal
from domain.errors import Forbidden, Unauthorized
from handlers.policy import declare

F = TypeVar("F", bound=Callable[..., Any])
Permission = Literal["account", "site:view", "site:admin", "site:owner", "instance:admin"]
PERMISSIONS: tuple[str, ...] = get_args(Permission)
SITE_ROLES: dict[str, Role] = {"site:view": "viewer", "site:admin": "admin", "site:owner": "owner"}
# The error statuses each permission's check may answer besides 401/429 (the OpenAPI document lists them).
DENIALS: dict[str, tuple[int, ...]] = {
    "site:view": (404,),
    "site:admin": (403, 404),
    "site:owner": (403, 404),
    "instance:admin": (403,),
}


async def _call(method: Callable[..., Any], handler: Any, args: Any, kwargs: Any) -> Any:
    result = method(handler, *args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


async def bearer_principal(handler: Any) -> UserPrincipal:
    """The person behind the request's bearer token (401 without one), held to the per-user rate limit."""
    principal = await handler.ctx.bearer.authenticate(handler.request.headers.get("Authorization"))
    await handler.ctx.accounts.throttle.api(principal.user_id)  # per-user API rate limit (429)
    return principal  # type: ignore[no-any-return]


async def _secret_key_principal(handler: Any, raw_key: str) -> KeyPrincipal:
    """The secret API key in X-Api-Key (401 when invalid or public), held to the per-key rate limit."""
    throttle = handler.ctx.accounts.throttle
    ip = handler.request.remote_ip or ""
    await throttle.credential_allowed(ip)  # 429 for an address guessing keys
    principal = await handler.ctx.keys.authenticate(raw_key.strip())
    if principal is None:
        await throttle.credential_failed(ip)
        raise Unauthorized("invalid, revoked or expired API key", code="invalid_key")
    if principal.kind != "secret":
        raise Unauthorized("this needs a secret key", code="wrong_key_kind")
    await throttle.api_key(principal.key_id)  # per-key API rate limit (429)
    return principal  # type: ignore[no-any-return]


async def _require_instance_admin(handler: Any) -> None:
    user = await handler.ctx.accounts.users.get(handler.principal.user_id)
    if not user.get("instance_admin"):
        raise Forbidden("only an instance admin may do this", code="not_instance_admin")


def authorized(permission: Permission, *, secret_key: bool = False) -> Callable[[F], F]:
    """Require `permission` (see the module docstring) before the method runs, and declare it."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    if secret_key and permission != "site:view":
        raise ValueError("secret keys only read: secret_key=True goes with site:view")
    role = SITE_ROLES.get(permission)

    def decorate(method: F) -> F:
        @functools.wraps(method)
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            raw_key = self.request.headers.get("X-Api-Key") if secret_key else None
            if raw_key and not self.request.headers.get("Authorization"):
                self.principal = await _secret_key_principal(self, raw_key)
            else:
                self.principal = await bearer_principal(self)
            if role is not None:
                self.site = await self.site_for(args[0], role)  # the route's first path argument
            elif permission == "instance:admin":
                await _require_instance_admin(self)
            return await _call(method, self, args, kwargs)

        return declare("bearer_or_secret_key" if secret_key else "bearer", permission)(wrapper)  # type: ignore[return-value]

    return decorate


authenticated = authorized("account")
