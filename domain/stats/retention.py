"""Weekly retention cohorts from (person, local date) activity pairs.

A person's cohort is the week (Monday, local) of their first activity inside the range; week k of a
cohort counts its people active in the k-th week after it. Anonymous visitor ids rotate daily, so cohorts
are meaningful for identified users (`u:` identities); both are counted, as the store reports them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any


def monday(day: dt.date) -> dt.date:
    """The Monday starting the week of `day`."""
    return day - dt.timedelta(days=day.weekday())


def weekly_cohorts(pairs: Iterable[tuple[str, str]], last_day: dt.date) -> list[dict[str, Any]]:
    """Cohorts in week order: {week, size, retained: [count per week offset], rates: [% per offset]}."""
    weeks: dict[str, set[dt.date]] = defaultdict(set)
    for person, day in pairs:
        weeks[person].add(monday(dt.date.fromisoformat(day)))
    last_week = monday(last_day)
    cohorts: dict[dt.date, list[int]] = {}
    for active in weeks.values():
        first = min(active)
        span = (last_week - first).days // 7 + 1
        counts = cohorts.setdefault(first, [0] * span)
        for week in active:
            counts[(week - first).days // 7] += 1
    out = []
    for first in sorted(cohorts):
        counts = cohorts[first]
        size = counts[0]
        out.append(
            {
                "week": first.isoformat(),
                "size": size,
                "retained": counts,
                "rates": [round(c * 100 / size, 2) if size else 0.0 for c in counts],
            }
        )
    return out


def active_series(
    pairs: Iterable[tuple[str, str]], first_day: dt.date, last_day: dt.date
) -> list[dict[str, Any]]:
    """Per day from first_day to last_day: people active that day (dau), in the 7 days (wau) and the
    30 days (mau) ending that day, and stickiness = dau / mau (%)."""
    by_day: dict[dt.date, set[str]] = defaultdict(set)
    for person, day in pairs:
        by_day[dt.date.fromisoformat(day)].add(person)
    out = []
    day = first_day
    while day <= last_day:
        window = [by_day.get(day - dt.timedelta(days=k), set()) for k in range(30)]
        dau = len(window[0])
        wau = len(set().union(*window[:7]))
        mau = len(set().union(*window))
        out.append(
            {
                "date": day.isoformat(),
                "dau": dau,
                "wau": wau,
                "mau": mau,
                "stickiness": round(dau * 100 / mau, 2) if mau else 0.0,
            }
        )
        day += dt.timedelta(days=1)
    return out
