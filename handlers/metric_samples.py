"""`POST /api/v1/metrics`: metric samples for the site's declared metrics (domain/user_metrics).

The key goes in `X-Api-Key`: a secret key (servers, no Origin), or a public key (pages) sent from one of
the site's allowed origins; the ingest pipeline checks keys, origins and rate limits, as for events.
Answers 202 {accepted}; a sample that does not fit its config (unknown name, undeclared label, negative
counter increment, not finite) refuses the whole batch with 422 and a field per sample.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from domain.user_metrics.service import Sample
from handlers.cross_origin import CrossOriginHandler, preflight
from handlers.operations import documented
from handlers.policy import public
from handlers.routes import route

MAX_SAMPLES = 100


class MetricSampleIn(msgspec.Struct, forbid_unknown_fields=True):
    """One sample: the declared metric's name, its value, and values for its declared labels."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    value: float
    labels: dict[
        Annotated[str, msgspec.Meta(max_length=64)], Annotated[str, msgspec.Meta(max_length=128)]
    ] = {}


class MetricSamplesIn(msgspec.Struct, forbid_unknown_fields=True):
    """1 to 100 samples."""

    metrics: Annotated[list[MetricSampleIn], msgspec.Meta(min_length=1, max_length=MAX_SAMPLES)]


class Accepted(msgspec.Struct):
    """How many samples were recorded."""

    accepted: int


class MetricSamplesHandler(CrossOriginHandler):
    """Records samples of user-declared metrics."""

    # Pages on the customers' sites send these: any origin, never with credentials (the key decides).
    max_body_bytes = 64 * 1024
    preflight_headers = preflight("Content-Type, X-Api-Key", max_age_s=600)

    @documented(
        auth="api_key", request=MetricSamplesIn, response=Accepted, status=202, errors=(403, 413, 429)
    )
    @public
    async def post(self) -> None:
        """Record samples of the site's declared metrics"""
        site_id = await self._authorize()
        batch = self.body_as(MetricSamplesIn)
        samples = [Sample(s.name, s.value, s.labels) for s in batch.metrics]
        accepted = await self.ctx.user_metrics.record(site_id, samples)
        self.write_json(Accepted(accepted), 202)

    async def _authorize(self) -> str:
        # The same key, origin and per-key/per-site rate checks as event ingestion (domain/ingest).
        principal = await self.ctx.ingest.authorize(
            self.request.headers.get("X-Api-Key"), self.request.headers.get("Origin"), in_url_or_body=False
        )
        await self.ctx.ingest.check_rate(principal)
        return principal.site_id


openapi_tag = "metrics"
default_handlers = [route("/api/v1/metrics", MetricSamplesHandler)]
