"""Page titles for the pages a dashboard shows (a title on hover), through the EventStore port (`read`).

Titles are not a breakdown dimension (unbounded text), so they are looked up per page: the title of the
page's first pageview in the range and the view's filters, one small read per page, all at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from domain.goals.answers import TitlesAnswer
from storage.ports import EventFilter, EventStore

MAX_PAGES = 100


async def page_titles(
    events: EventStore, base: EventFilter, pages: Sequence[str], *, tz: str
) -> TitlesAnswer:
    """The titles ({path: title}) of the `pages` that had a titled pageview among the events of `base`."""
    fields = {name: getattr(base, name) for name in base.__struct_fields__}

    async def one(path: str) -> tuple[str, str]:
        flt = EventFilter(
            **{**fields, "equals": {**base.equals, "name": "pageview", "path": path}, "path_prefix": ""}
        )
        batches = events.read(flt, batch_size=1)
        try:
            async for batch in batches:
                return path, batch[0].title if batch else ""
        finally:
            await batches.aclose()  # type: ignore[attr-defined]
        return path, ""

    found = await asyncio.gather(*(one(path) for path in dict.fromkeys(pages[:MAX_PAGES])))
    titles = {path: title for path, title in found if title}
    return TitlesAnswer(site_id=base.site_id, tz=tz, titles=titles)
