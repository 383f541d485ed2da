"""A report's mail: the period's numbers against the period before, top pages and sources; HTML (inline
styles, no remote images, every value escaped) with a plain-text part."""

from __future__ import annotations

import html
from typing import Any

from domain.accounts.site_docs import StoredSite
from domain.mail.templates import Mail
from domain.reports.periods import Period
from domain.stats.answers import BreakdownRow, SummaryAnswer

ROWS = (
    ("visitors", "Visitors", ""),
    ("pageviews", "Pageviews", ""),
    ("bounce_rate", "Bounce rate", "%"),
    ("visit_duration", "Visit duration", " s"),
)


def _change(change: float | None) -> str:
    if change is None:
        return "new"
    return f"{change:+.1f}%"


def _number(value: Any, unit: str) -> str:
    if isinstance(value, float):
        return f"{value:g}{unit}"
    return f"{value:,}{unit}" if isinstance(value, int) else "-"


def render(
    site: StoredSite,
    period: Period,
    summary: SummaryAnswer,
    pages: list[BreakdownRow],
    sources: list[BreakdownRow],
    dashboard_url: str,
    unsubscribe_url: str,
) -> Mail:
    """The report mail of one site for one period."""
    name = site.name
    title = f"{name}: {'weekly' if period.kind == 'weekly' else 'monthly'} report, {period.label}"
    lines = [title, ""]
    cells = []
    for key, label, unit in ROWS:
        item = getattr(summary.results, key)
        value, change = _number(item.value, unit), _change(item.change)
        lines.append(f"{label}: {value} ({change} vs the period before: {_number(item.previous, unit)})")
        cells.append(
            f'<tr><td>{html.escape(label)}</td><td style="text-align:right"><b>{html.escape(value)}</b></td>'
            f'<td style="text-align:right;color:#555">{html.escape(change)}</td></tr>'
        )
    sections = []
    for heading, rows in (("Top pages", pages), ("Top sources", sources)):
        lines += ["", heading + ":"]
        items = [(row.value, row.visitors) for row in rows] or [("(none)", 0)]
        lines += [f"  {value or '(direct)'}: {visitors} visitors" for value, visitors in items]
        body = "".join(
            f"<tr><td>{html.escape(str(value or '(direct)'))}</td>"
            f'<td style="text-align:right">{int(visitors):,}</td></tr>'
            for value, visitors in items
        )
        sections.append(f"<h3>{html.escape(heading)}</h3><table>{body}</table>")
    lines += ["", f"Dashboard: {dashboard_url}", f"Stop these reports: {unsubscribe_url}", ""]
    page = (
        '<!doctype html><html><body style="font-family:system-ui,sans-serif;max-width:40em">'
        f"<h2>{html.escape(title)}</h2><table>{''.join(cells)}</table>{''.join(sections)}"
        f'<p><a href="{html.escape(dashboard_url, quote=True)}">Open the dashboard</a></p>'
        f'<p style="color:#666;font-size:small"><a href="{html.escape(unsubscribe_url, quote=True)}">'
        "Stop these reports</a></p></body></html>"
    )
    return Mail(title, "\n".join(lines), page)
