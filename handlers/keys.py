"""`/api/v1/sites/{site_id}/keys`: a site's API keys (thin handlers over domain/accounts/api_keys.py).

Viewers list keys (secret values are never shown again); admins and owners create, change, rotate and
delete them.
"""

from __future__ import annotations

from domain.accounts.api_keys import KeyAnswer, KeyCreate, KeyList, KeyUpdate
from handlers.access import authorized
from handlers.base import ApiHandler
from handlers.openapi import Operation
from handlers.routes import route


class KeysHandler(ApiHandler):
    """List and create keys."""

    @authorized("site:view")
    async def get(self, site_id: str) -> None:
        self.write_json(KeyList(keys=await self.ctx.accounts.keys.list(self.site)))

    @authorized("site:admin")
    async def post(self, site_id: str) -> None:
        body = self.body_as(KeyCreate)
        self.write_json(KeyAnswer(key=await self.ctx.accounts.keys.create(self.site, body)), 201)


class KeyHandler(ApiHandler):
    """Change or delete one key."""

    @authorized("site:admin")
    async def patch(self, site_id: str, key_id: str) -> None:
        body = self.body_as(KeyUpdate)
        self.write_json(KeyAnswer(key=await self.ctx.accounts.keys.update(self.site, key_id, body)))

    @authorized("site:admin")
    async def delete(self, site_id: str, key_id: str) -> None:
        await self.ctx.accounts.keys.delete(self.site, key_id)
        self.no_content()


class KeyRotateHandler(ApiHandler):
    """Give a key a new value; the old one stops working at once."""

    @authorized("site:admin")
    async def post(self, site_id: str, key_id: str) -> None:
        self.write_json(KeyAnswer(key=await self.ctx.accounts.keys.rotate(self.site, key_id)))


_KEYS = "/api/v1/sites/{site_id}/keys"
_KEY = _KEYS + "/{key_id}"
default_handlers = [
    route(_KEYS, KeysHandler),
    route(_KEY, KeyHandler),
    route(f"{_KEY}/rotate", KeyRotateHandler),
]

openapi_operations = [
    Operation("GET", _KEYS, "The site's keys", tag="keys", response=KeyList, errors=(404,)),
    Operation(
        "POST",
        _KEYS,
        "Create a key (admin); the value is in this answer, and never again for secret keys",
        tag="keys",
        request=KeyCreate,
        response=KeyAnswer,
        status=201,
        errors=(403, 404, 409),
    ),
    Operation(
        "PATCH",
        _KEY,
        "Rename, deactivate or reactivate a key (admin)",
        tag="keys",
        request=KeyUpdate,
        response=KeyAnswer,
        errors=(403, 404),
    ),
    Operation("DELETE", _KEY, "Delete a key (admin)", tag="keys", status=204, errors=(403, 404)),
    Operation(
        "POST",
        f"{_KEY}/rotate",
        "Give a key a new value (admin); the old value stops working",
        tag="keys",
        response=KeyAnswer,
        errors=(403, 404),
    ),
]
