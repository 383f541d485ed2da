"""Weekly retention cohorts from (person, local date) activity pairs.

A person's cohort is the week (Monday, local) of their first activity inside the range; week k of a
cohort counts its people active in the k-th week after it. Anonymous visitor ids rotate daily, so cohorts
are meaningful for identified users (`u:` identities); both are counted, as the store reports them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from domain.stats.answers import ActiveDay, Cohort


def monday(day: dt.date) -> dt.date:
    """The Monday starting the week of `day`."""
    return day - dt.timedelta(days=day.weekday())


def weekly_cohorts(pairs: Iterable[tuple[str, str]], last_day: dt.date) -> list[Cohort]:
    """Cohorts in week order: {week, size, retained: [count per week offset], rates: [% per offset]}."""
    weeks: dict[str, set[dt.date]] = defaultdict(set)
    mondays: dict[str, dt.date] = {}  # millions of pairs name a few dozen dates: parse each once
    for person, day in pairs:
        week = mondays.get(day)
        if week is None:
            week = mondays[day] = monday(dt.date.fromisoformat(day))
        weeks[person].add(week)
    counts: dict[tuple[dt.date, int], int] = defaultdict(int)
    for active in weeks.values():
        first = min(active)
        for week in active:
            counts[first, (week - first).days // 7] += 1
    return cohort_table(((first.isoformat(), offset, n) for (first, offset), n in counts.items()), last_day)


def cohort_table(counts: Iterable[tuple[str, int, int]], last_day: dt.date) -> list[Cohort]:
    """The cohorts from (first week's Monday YYYY-MM-DD, week offset, people) counts: each cohort's row
    runs to the week of `last_day`, weeks without anyone at 0."""
    last_week = monday(last_day)
    cohorts: dict[dt.date, list[int]] = {}
    for week, offset, n in counts:
        first = dt.date.fromisoformat(week)
        row = cohorts.get(first)
        if row is None:
            row = cohorts[first] = [0] * ((last_week - first).days // 7 + 1)
        row[offset] += n
    out = []
    for first in sorted(cohorts):
        row = cohorts[first]
        size = row[0]
        out.append(
            Cohort(
                week=first.isoformat(),
                size=size,
                retained=row,
                rates=[round(c * 100 / size, 2) if size else 0.0 for c in row],
            )
        )
    return out


def active_series(pairs: Iterable[tuple[str, str]], first_day: dt.date, last_day: dt.date) -> list[ActiveDay]:
    """Per day from first_day to last_day: people active that day (dau), in the 7 days (wau) and the
    30 days (mau) ending that day, and stickiness = dau / mau (%).

    Linear in the pairs: a person active on day a counts in the windows of days a .. a+6 (wau) and
    a .. a+29 (mau); each person's spans are merged (sorted days, a span starts after the previous one
    ends) and added to a difference array, so no day's window is rebuilt as a set of people."""
    ordinals: dict[str, int] = {}
    by_person: dict[str, list[int]] = defaultdict(list)
    for person, day in pairs:
        number = ordinals.get(day)
        if number is None:
            number = ordinals[day] = dt.date.fromisoformat(day).toordinal()
        by_person[person].append(number)
    lo, hi = first_day.toordinal(), last_day.toordinal()
    size = hi - lo + 2
    daily = [0] * size
    starts = {7: [0] * size, 30: [0] * size}
    for days in by_person.values():
        days = sorted(set(days))
        for day in days:
            if lo <= day <= hi:
                daily[day - lo] += 1
        for width, diff in starts.items():
            covered_to = -(10**9)  # the last day the person's spans so far cover
            for day in days:
                begin, end = max(day, covered_to + 1), day + width - 1
                covered_to = end
                begin, end = max(begin, lo), min(end, hi)
                if begin <= end:
                    diff[begin - lo] += 1
                    diff[end - lo + 1] -= 1
    days = []
    wau = mau = 0
    for offset in range(hi - lo + 1):
        wau += starts[7][offset]
        mau += starts[30][offset]
        days.append((dt.date.fromordinal(lo + offset).isoformat(), daily[offset], wau, mau))
    return active_table(days)


def active_table(days: Iterable[tuple[str, int, int, int]]) -> list[ActiveDay]:
    """The answer's rows from (date, dau, wau, mau), with stickiness = dau / mau (%)."""
    return [
        ActiveDay(date=date, dau=dau, wau=wau, mau=mau, stickiness=round(dau * 100 / mau, 2) if mau else 0.0)
        for date, dau, wau, mau in days
    ]
