"""Weekly email reports through a real SMTP server: due on Monday from 07:00 in the site's timezone,
sent once, numbers equal to the stats API's for the same period, HTML with a plain-text part and no
remote images, and an unsubscribe link that works without signing in (also as a one-click POST)."""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.reports.periods import due_period
from handlers.context import AppContext
from storage.records import Event
from tests.support.accounts import make_site, register
from tests.support.api import Api
from tests.support.events import store_events
from tests.support.smtp_sink import PUBLIC_URL, SmtpSink, html_of, text_of, to

TZ = "Europe/Paris"


@pytest.fixture
def app_config(sink: SmtpSink) -> dict[str, Any]:
    return sink.app_config()


def _monday(weeks_ahead: int) -> dt.datetime:
    today = dt.datetime.now(ZoneInfo(TZ)).date()
    monday = today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=weeks_ahead)
    return dt.datetime.combine(monday, dt.time(0), tzinfo=ZoneInfo(TZ))


def _visits(site_id: str, start: dt.datetime, plan: list[tuple[str, str, int]]) -> list[Event]:
    """Events of visits: (source, visitor, pageviews) each a session starting an hour apart."""
    events = []
    for n, (source, visitor, pages) in enumerate(plan):
        session = uuid.uuid4().hex
        begin = int((start + dt.timedelta(hours=10 + n)).timestamp() * 1000)
        for page in range(pages):
            events.append(
                Event(
                    id=uuid.uuid4().hex,
                    site_id=site_id,
                    ts=begin + page * 40_000,
                    name="pageview",
                    path=f"/p{page}",
                    source=source,
                    visitor_id=visitor,
                    session_id=session,
                )
            )
    return events


def _reported(text: str, label: str) -> str:
    found = re.search(rf"^{label}: (\S+)", text, re.MULTILINE)
    assert found, text
    return found.group(1)


async def test_weekly_report_matches_the_stats_api_and_unsubscribes(
    api: Api, ctx: AppContext, sink: SmtpSink
) -> None:
    account = await register(api)
    token, email = account["access_token"], account["user"]["email"]
    site = await make_site(api, token, name="Bakery", timezone=TZ)
    chosen = await api.put(f"/api/v1/sites/{site['id']}/reports", json={"weekly": True}, token=token)
    assert chosen.status == 200 and chosen.json["weekly"] is True and chosen.json["monthly"] is False
    # This week (reported next Monday) and the week before it (the comparison).
    this_week, next_monday = _monday(0), _monday(1)
    await store_events(
        ctx,
        _visits(
            site["id"], this_week, [("google", "a", 3), ("google", "b", 1), ("", "c", 2), ("news", "a", 1)]
        )
        + _visits(site["id"], this_week - dt.timedelta(weeks=1), [("google", "d", 1), ("", "e", 1)]),
    )
    # Due from 07:00 on Monday in the site's timezone, and sent once.
    monday = next_monday.timestamp()
    assert await ctx.reports.send_due(now=monday + 6 * 3600) == 0
    assert await ctx.reports.send_due(now=monday + 8 * 3600) == 1
    assert await ctx.reports.send_due(now=monday + 9 * 3600) == 0
    mail = await sink.wait_for(lambda m: to(email)(m) and "report" in str(m["Subject"]))
    text, page = text_of(mail), html_of(mail)
    assert str(mail["Subject"]).startswith("Bakery: weekly report")
    period = {
        "from": this_week.date().isoformat(),
        "to": (next_monday - dt.timedelta(days=1)).date().isoformat(),
    }
    query = urllib.parse.urlencode(period)
    summary = (await api.get(f"/api/v1/sites/{site['id']}/stats/summary?{query}", token=token)).json[
        "results"
    ]
    assert summary["visitors"]["value"] == 3 and summary["visitors"]["previous"] == 2
    assert _reported(text, "Visitors") == f"{summary['visitors']['value']:,}"
    assert _reported(text, "Pageviews") == f"{summary['pageviews']['value']:,}"
    assert _reported(text, "Bounce rate") == f"{summary['bounce_rate']['value']:g}%"
    assert _reported(text, "Visit duration") == f"{summary['visit_duration']['value']:g}"
    assert f"({summary['visitors']['change']:+.1f}% vs the period before: 2)" in text
    for by, heading in (("page", "Top pages"), ("source", "Top sources")):
        top = await api.get(
            f"/api/v1/sites/{site['id']}/stats/breakdown?{query}&by={by}&limit=5", token=token
        )
        block = text.split(heading + ":\n", 1)[1].split("\n\n", 1)[0]
        expected = [
            f"  {row['value'] or '(direct)'}: {row['visitors']} visitors" for row in top.json["results"]
        ]
        assert block.splitlines() == expected
    assert "<img" not in page and "Bakery" in page
    # Unsubscribe without signing in: a forged key is refused, the real one works.
    link = re.search(r"Stop these reports: (\S+)", text).group(1)  # type: ignore[union-attr]
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).fragment))
    for key in ("0" * 40, "é" * 40, ""):
        forged = await api.post("/api/v1/reports/unsubscribe", json={"id": params["id"], "key": key})
        assert forged.status == 422, key
    done = await api.post("/api/v1/reports/unsubscribe", json=params)
    assert done.status == 200 and done.json == {"status": "unsubscribed"}
    mine = await api.get("/api/v1/account/reports", token=token)
    assert mine.json["subscriptions"] == [
        {"site_id": site["id"], "site_name": "Bakery", "weekly": False, "monthly": False}
    ]
    # The one-click header (RFC 8058) names an API URL that takes a bare POST.
    one_click = str(mail["List-Unsubscribe"]).strip("<>")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    clicked = await api.post(one_click.removeprefix(PUBLIC_URL), body=b"List-Unsubscribe=One-Click")
    assert clicked.status == 200


async def test_a_member_who_left_gets_no_more_reports(api: Api, ctx: AppContext, sink: SmtpSink) -> None:
    owner = await register(api)
    site = await make_site(api, owner["access_token"], timezone=TZ)
    chosen = await api.put(
        f"/api/v1/sites/{site['id']}/reports",
        json={"weekly": True, "monthly": True},
        token=owner["access_token"],
    )
    assert chosen.status == 200
    await ctx.stores.docs.update("sites", {"id": site["id"]}, {"owner_id": "someone-else"})
    assert await ctx.reports.send_due(now=(_monday(1) + dt.timedelta(hours=8)).timestamp()) == 0
    assert await ctx.stores.docs.count("report_subscriptions", {}) == 0


class TestPeriods:
    """When each report is due, and which days it covers, in the site's timezone."""

    @staticmethod
    def _at(text: str, tz: str) -> float:
        return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()

    def test_weekly_is_due_from_monday_seven_local_for_the_week_before(self) -> None:
        assert due_period("weekly", self._at("2026-11-30T06:59", "Asia/Tokyo"), "Asia/Tokyo") is None
        period = due_period("weekly", self._at("2026-11-30T07:00", "Asia/Tokyo"), "Asia/Tokyo")
        assert period is not None and period.key == "2026-W48"
        assert (period.first_day.isoformat(), period.last_day.isoformat()) == ("2026-11-23", "2026-11-29")
        # Still due later in the week (a server that was down sends it when it is back).
        later = due_period("weekly", self._at("2026-12-03T12:00", "Asia/Tokyo"), "Asia/Tokyo")
        assert later is not None and later.key == "2026-W48"

    def test_monthly_is_due_from_the_first_and_covers_the_month_before(self) -> None:
        assert (
            due_period("monthly", self._at("2027-03-01T06:00", "America/New_York"), "America/New_York")
            is None
        )
        period = due_period("monthly", self._at("2027-03-01T07:30", "America/New_York"), "America/New_York")
        assert period is not None and period.key == "2027-02"
        assert (period.first_day.isoformat(), period.last_day.isoformat()) == ("2027-02-01", "2027-02-28")
        january = due_period("monthly", self._at("2027-01-01T08:00", "UTC"), "UTC")
        assert january is not None and january.key == "2026-12" and january.label == "December 2026"

    def test_the_same_instant_differs_by_timezone(self) -> None:
        instant = self._at("2026-11-30T01:00", "UTC")  # Monday 10:00 in Tokyo, Sunday 20:00 in New York
        assert due_period("weekly", instant, "Asia/Tokyo") is not None
        new_york = due_period("weekly", instant, "America/New_York")
        assert new_york is not None and new_york.key == "2026-W47"
