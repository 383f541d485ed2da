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

    @documented(response=KeyList)
    @authorized("site:view")
    async def get(self, site_id: str) -> None:
        """The site's keys"""
        self.write_json(KeyList(keys=await self.ctx.accounts.keys.list(self.site)))

    @documented(request=KeyCreate, response=KeyAnswer, status=201, errors=(409,))
    @authorized("site:admin")
    async def post(self, site_id: str) -> None:
        """Create a key (admin); the value is in this answer, and never again for secret keys"""
        body = self.body_as(KeyCreate)
        self.write_json(KeyAnswer(key=await self.ctx.accounts.keys.create(self.site, body)), 201)


class KeyHandler(ApiHandler):
    """Change or delete one key."""

    @documented(request=KeyUpdate, response=KeyAnswer)
    @authorized("site:admin")
    async def patch(self, site_id: str, key_id: str) -> None:
        """Rename, deactivate or reactivate a key (admin)"""
        body = self.body_as(KeyUpdate)
        self.write_json(KeyAnswer(key=await self.ctx.accounts.keys.update(self.site, key_id, body)))

    @documented(status=204)
    @authorized("site:admin")
    async def delete(self, site_id: str, key_id: str) -> None:
        """Delete a key (admin)"""
        await self.ctx.accounts.keys.delete(self.site, key_id)
        self.no_content()


class KeyRotateHandler(ApiHandler):
    """Give a key a new value; the old one stops working at once."""

    @documented(response=KeyAnswer)
    @authorized("site:admin")
    async def post(self, site_id: str, key_id: str) -> None:
        """Give a key a new value (admin); the old value stops working"""
        self.write_json(KeyAnswer(key=await self.ctx.accounts.keys.rotate(self.site, key_id)))


_KEYS = "/api/v1/sites/{site_id}/keys"
_KEY = _KEYS + "/{key_id}"
openapi_tag = "keys"
default_handlers = [
    route(_KEYS, KeysHandler),
    route(_KEY, KeyHandler),
    route(f"{_KEY}/rotate", KeyRotateHandler),
]
