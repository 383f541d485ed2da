"""Report periods in a site's timezone: the week (Monday to Sunday) or month before the one `now` is in,
and when its report is due (Monday / the 1st, from 07:00 local time)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

SEND_FROM_HOUR = 7


@dataclass(frozen=True)
class Period:
    """A report period: its key (`2026-W48`, `2026-11`), first and last local days, and a label."""

    kind: str
    key: str
    first_day: dt.date
    last_day: dt.date

    @property
    def label(self) -> str:
        """How the mail names the period."""
        if self.kind == "monthly":
            return self.first_day.strftime("%B %Y")
        return f"{self.first_day:%d %b} - {self.last_day:%d %b %Y}"


def previous_period(kind: str, now: dt.datetime) -> Period:
    """The complete week or month before the one that `now` (aware, in the site's timezone) is in."""
    today = now.date()
    if kind == "weekly":
        this_monday = today - dt.timedelta(days=today.weekday())
        first = this_monday - dt.timedelta(days=7)
        year, week, _ = first.isocalendar()
        return Period(kind, f"{year}-W{week:02d}", first, this_monday - dt.timedelta(days=1))
    first_of_this = today.replace(day=1)
    last = first_of_this - dt.timedelta(days=1)
    return Period(kind, f"{last.year}-{last.month:02d}", last.replace(day=1), last)


def due_period(kind: str, now_ts: float, tz: str) -> Period | None:
    """The period whose report is due now, or None before 07:00 local on its first sending day (after
    that it stays due until sent, so a server that was down still sends it)."""
    local = dt.datetime.fromtimestamp(now_ts, tz=ZoneInfo(tz))
    period = previous_period(kind, local)
    sending_day = period.last_day + dt.timedelta(days=1)
    starts = dt.datetime.combine(sending_day, dt.time(SEND_FROM_HOUR), tzinfo=ZoneInfo(tz))
    return period if local >= starts else None
