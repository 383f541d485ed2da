"""`/api/v1/sites/{site_id}/keys`: a site's API keys (thin handlers over domain/accounts/api_keys.py).

Viewers list keys (secret values are never shown again); admins and owners create, change, rotate and
delete them.
"""

from __future__ import annotations

from domain.accounts.api_keys import KeyAnswer, KeyCreate, KeyList, KeyUpdate
from handlers.access import authorized
from handlers.base import ApiHandler
from handlers.operations import documented
from handlers.routes import route


class KeysHandler(ApiHandler):
    """List and create keys."""

    @documented("The site's keys", response=KeyList, errors=(404,))
    @authorized("site:view")
    async def get(self, site_id: str) -> None:
        self.write_json(KeyList(keys=await self.ctx.accounts.keys.list(self.site)))

    @documented(
        "Create a key (admin); the value is in this answer, and never again for secret keys",
        request=KeyCreate,
        response=KeyAnswer,
        status=201,
        errors=(403, 404, 409),
    )
    @authorized("site:admin")
    async def post(self, site_id: str) -> None:
        body = self.body_as(KeyCreate)
        self.write_json(KeyAnswer(key=await self.ctx.accounts.keys.create(self.site, body)), 201)


class KeyHandler(ApiHandler):
    """Change or delete one key."""

    @documented(
        "Rename, deactivate or reactivate a key (admin)",
        request=KeyUpdate,
        response=KeyAnswer,
        errors=(403, 404),
    )
    @authorized("site:admin")
    async def patch(self, site_id: str, key_id: str) -> None:
        body = self.body_as(KeyUpdate)
        self.write_json(KeyAnswer(key=await self.ctx.accounts.keys.update(self.site, key_id, body)))

    @documented("Delete a key (admin)", status=204, errors=(403, 404))
    @authorized("site:admin")
    async def delete(self, site_id: str, key_id: str) -> None:
        await self.ctx.accounts.keys.delete(self.site, key_id)
        self.no_content()


class KeyRotateHandler(ApiHandler):
    """Give a key a new value; the old one stops working at once."""

    @documented(
        "Give a key a new value (admin); the old value stops working", response=KeyAnswer, errors=(403, 404)
    )
    @authorized("site:admin")
    async def post(self, site_id: str, key_id: str) -> None:
        self.write_json(KeyAnswer(key=await self.ctx.accounts.keys.rotate(self.site, key_id)))


_KEYS = "/api/v1/sites/{site_id}/keys"
_KEY = _KEYS + "/{key_id}"
openapi_tag = "keys"
default_handlers = [
    route(_KEYS, KeysHandler),
    route(_KEY, KeyHandler),
    route(f"{_KEY}/rotate", KeyRotateHandler),
]
