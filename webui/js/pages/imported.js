// The history view's card for imported history (stats/history): when days of the range come from the
// site's Plausible import, it shows the range merged as Plausible shows imported data (a day without any
// event of Eddy's own takes the imported numbers, flagged; a day with its own events never counts twice):
// totals, visitors per day with the imported days marked, top pages and sources. Hidden when no day of
// the range was imported. Imported days hold aggregates only, so the view's filters do not apply to them.

import { h, replace, errorBox, fmtNumber, table, shortPath } from "../dom.js";
import { afterViewPaint } from "./breakdowns.js";

const SVG = "http://www.w3.org/2000/svg";

/** The card; `getQuery()` gives the range (and filters, only to say they do not apply). */
export function importedCard(source, getQuery) {
  const body = h("div", { class: "imported-body" });
  const card = h("section", { class: "card breakdown imported", "data-breakdown": "imported", hidden: true }, h("div", { class: "section-head" }, h("h3", { text: "With imported history" })), body);
  let seq = 0;

  function render(answer, filtered) {
    const totals = answer.totals || {};
    const days = answer.days || [];
    const most = Math.max(1, ...days.map((day) => day.visitors || 0));
    // One bar a day (SVG attributes, not inline styles: the page's CSP allows none), imported days marked.
    const bars = document.createElementNS(SVG, "svg");
    bars.setAttribute("viewBox", `0 0 ${Math.max(1, days.length)} 100`);
    bars.setAttribute("preserveAspectRatio", "none");
    bars.setAttribute("class", "imported-days");
    bars.setAttribute("role", "img");
    bars.setAttribute("aria-label", `Visitors per day, ${fmtNumber(answer.imported_days)} of ${fmtNumber(days.length)} days imported`);
    days.forEach((day, index) => {
      const height = Math.max(day.visitors ? 2 : 0, (100 * (day.visitors || 0)) / most);
      const bar = document.createElementNS(SVG, "rect");
      for (const [name, value] of Object.entries({ x: index + 0.1, y: 100 - height, width: 0.8, height, class: day.imported ? "is-imported" : "is-live", "data-date": day.date })) bar.setAttribute(name, String(value));
      const title = document.createElementNS(SVG, "title");
      title.textContent = `${day.date}: ${fmtNumber(day.visitors)} visitors${day.imported ? " (imported)" : ""}`;
      bar.append(title);
      bars.append(bar);
    });
    const top = (rows, label, format, [key, metric]) =>
      table(
        [
          { label, value: (row) => format(row.value ?? "") },
          { label: metric, numeric: true, value: (row) => fmtNumber(row[key]) },
        ],
        rows || [],
        `Top ${label.toLowerCase()} with imported history`,
      );
    replace(
      body,
      h("p", { class: "muted", "data-testid": "imported-note", text: `${fmtNumber(answer.imported_days)} days of this range come from the Plausible import (grey bars). Days with events of Eddy's own use those, so no day counts twice.${filtered ? " Imported days hold totals only: the filters do not apply to them." : ""}` }),
      h(
        "div",
        { class: "summary-grid imported-totals", "data-testid": "imported-totals" },
        [
          ["visitors", "Visitors"],
          ["visits", "Visits"],
          ["pageviews", "Pageviews"],
        ].map(([key, label]) => h("div", { class: "stat", "data-metric": key }, h("span", { class: "stat-label", text: label }), h("strong", { class: "big-number", text: fmtNumber(totals[key]) }))),
      ),
      bars,
      h("div", { class: "breakdown-grid" }, top(answer.top_pages, "Page", (value) => shortPath(value) || value || "(none)", ["pageviews", "Pageviews"]), top(answer.top_sources, "Source", (value) => value || "(direct)", ["visitors", "Visitors"])),
    );
  }

  async function load() {
    const mine = ++seq;
    const { filters, ...range } = getQuery();
    // Asked once the view's own numbers have painted: it never holds them up.
    afterViewPaint(card)
      .then(() => (mine === seq ? source.stats("history", { ...range, if_imported: true }) : null))
      .then((answer) => {
        if (mine !== seq) return;
        card.hidden = !(answer?.imported_days > 0);
        if (!card.hidden) render(answer, Boolean(filters?.length));
      })
      .catch((error) => {
        if (mine !== seq) return;
        // A share link cannot read imported history (404): the card stays hidden; else say why.
        card.hidden = error?.status === 404 || error?.status === 401;
        if (!card.hidden) replace(body, errorBox(error));
      });
  }
  return {
    card,
    load,
    destroy() {
      seq++;
    },
  };
}
