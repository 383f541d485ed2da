"""What the things that belong to one site (keys, members, metric declarations, alert rules, imports)
share: finding one by id for a caller of that site, and reading the changes an update body asks for."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import msgspec

from domain.errors import NotFound
from storage.ports import Document, DocumentStore


async def site_item(
    docs: DocumentStore, collection: str, site_id: str, item_id: str, missing: str
) -> Document:
    """The document `item_id` of `collection` when it belongs to `site_id`; NotFound(`missing`) otherwise,
    so another site's item reads exactly as an unknown id does."""
    doc = await docs.get(collection, item_id)
    if doc is None or doc.get("site_id") != site_id:
        raise NotFound(missing)
    return doc


def given_changes(body: msgspec.Struct, *, leave: Collection[str] = ()) -> dict[str, Any]:
    """The fields an update body sets (those not left UNSET), less those named in `leave`."""
    changes: dict[str, Any] = {}
    for field in body.__struct_fields__:
        value = getattr(body, field)
        if value is not msgspec.UNSET and field not in leave:
            changes[field] = value
    return changes
