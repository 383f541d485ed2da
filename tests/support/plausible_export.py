"""A Plausible CE CSV export (a zip of imported_* daily tables) made in a test, with what each day holds."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from typing import Any


def table(name: str, header: list[str], rows: list[list[Any]]) -> tuple[str, str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return name, out.getvalue()


def plausible_zip(first: dt.date, last: dt.date) -> tuple[bytes, dict[str, dict[str, int]]]:
    """Two years of daily tables, and per day what imported_visitors says."""
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    stamp = f"{first:%Y%m%d}_{last:%Y%m%d}"
    per_day = {d.isoformat(): {"visitors": 10 + n % 7, "pageviews": 30 + n % 11} for n, d in enumerate(days)}
    visitors = [
        [day, v["visitors"], v["pageviews"], v["visitors"] // 2, v["visitors"] + 2, 600]
        for day, v in per_day.items()
    ]
    visitors.insert(100, ["not-a-date", 1, 1, 1, 1, 1])  # a bad row: line 102 of the file
    pages = []
    sources = []
    for day, v in per_day.items():
        pages += [[day, "shop.example", "/", v["visitors"], v["pageviews"] - 10, 3, 100]]
        pages += [[day, "shop.example", "/pricing", 4, 10, 1, 50]]
        sources += [[day, "Google", "", "", "", "", "", v["visitors"] - 3, v["visitors"], 300, 2]]
        sources += [[day, "Newsletter", "", "", "", "", "", 3, 3, 30, 1]]
    files = [
        table(
            f"imported_visitors_{stamp}.csv",
            ["date", "visitors", "pageviews", "bounces", "visits", "visit_duration"],
            visitors,
        ),
        table(
            f"imported_pages_{stamp}.csv",
            ["date", "hostname", "page", "visitors", "pageviews", "exits", "time_on_page"],
            pages,
        ),
        table(
            f"imported_sources_{stamp}.csv",
            [
                "date",
                "source",
                "referrer",
                "utm_source",
                "utm_medium",
                "utm_campaign",
                "utm_content",
                "utm_term",
                "visitors",
                "visits",
                "visit_duration",
                "bounces",
            ],
            sources,
        ),
        table(f"imported_widgets_{stamp}.csv", ["date", "visitors"], [[first.isoformat(), 1]]),
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files:
            archive.writestr(name, text)
    return buffer.getvalue(), per_day
