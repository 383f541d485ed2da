"""Label values are enums (runtime/metrics.py): each member's series exists at zero from the start, no
other value makes a series, and a misspelt value is an error instead of a new series."""

from __future__ import annotations

from enum import StrEnum

import pytest

from handlers.context import AppContext
from runtime.metrics import DropReason, MailOutcome, MailState, Metrics, SocketKind, StorePart

# (sample name, label, enum) of every family whose label values are declared up front.
LABELLED = (
    ("eddy_ingest_events_dropped_total", "reason", DropReason),
    ("eddy_websocket_connections", "kind", SocketKind),
    ("eddy_store_errors_total", "store", StorePart),
    ("eddy_mail_outbox_messages", "state", MailState),
    ("eddy_mail_attempts_total", "outcome", MailOutcome),
)


def _label_values(metrics: Metrics, sample_name: str, label: str) -> dict[str, float]:
    return {
        sample.labels[label]: sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == sample_name
    }


@pytest.mark.parametrize(("sample_name", "label", "enum"), LABELLED)
def test_every_member_is_a_series_at_zero_from_the_start(
    sample_name: str, label: str, enum: type[StrEnum]
) -> None:
    values = _label_values(Metrics(), sample_name, label)
    assert values == {member.value: 0.0 for member in enum}


def test_members_count_into_their_series_and_strings_are_checked() -> None:
    metrics = Metrics()
    metrics.on_store_error("events")
    metrics.on_mail_outcome(MailOutcome.RETRIED)
    metrics.on_mail_counts({"pending": 3})
    assert _label_values(metrics, "eddy_store_errors_total", "store")["events"] == 1.0
    assert _label_values(metrics, "eddy_mail_attempts_total", "outcome")["retried"] == 1.0
    assert _label_values(metrics, "eddy_mail_outbox_messages", "state")["pending"] == 3.0
    with pytest.raises(ValueError):
        metrics.on_store_error("evnets")
    with pytest.raises(ValueError):
        metrics.on_mail_outcome("sent ")
    with pytest.raises(ValueError):
        metrics.on_mail_counts({"queued": 1})
    with pytest.raises(AttributeError):
        _ = DropReason.BAD_ORIGNI  # type: ignore[attr-defined]
    assert set(_label_values(metrics, "eddy_store_errors_total", "store")) == {m.value for m in StorePart}


async def test_a_misspelt_drop_reason_is_refused_without_a_series(ctx: AppContext) -> None:
    ctx.ingest.drop(DropReason.BAD_ORIGIN, 2)
    ctx.ingest.drop("bot")  # a string naming a member is that member
    with pytest.raises(ValueError):
        ctx.ingest.drop("bad_orign")
    values = _label_values(ctx.metrics, "eddy_ingest_events_dropped_total", "reason")
    assert values == {member.value: 0.0 for member in DropReason} | {"bad_origin": 2.0, "bot": 1.0}
