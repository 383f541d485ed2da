// History: a date range (presets or custom dates), an optional previous-period comparison, the summary
// numbers, a timeseries chart (uPlot), breakdown tables, funnels and retention. Every value from the API
// is rendered as text; only http(s) URLs become links.

import { ApiError } from "../api.js";
import { h, replace, loading, empty, errorBox, table, field, fmtNumber, fmtPercent, fmtDuration, externalLink, shortPath } from "../dom.js";
import { timeseriesChart } from "./charts.js";
import { rangeFor as presetRange, previousRange, intervalFor } from "../ranges.js";

const PRESETS = [
  ["today", "Today"],
  ["7d", "Last 7 days"],
  ["30d", "Last 30 days"],
  ["90d", "Last 90 days"],
  ["custom", "Custom range"],
];
const METRICS = [
  ["visitors", "Visitors", fmtNumber],
  ["visits", "Visits", fmtNumber],
  ["pageviews", "Pageviews", fmtNumber],
  ["events", "Events", fmtNumber],
  ["bounce_rate", "Bounce rate", fmtPercent],
  ["visit_duration", "Visit duration", fmtDuration],
  ["views_per_visit", "Views per visit", fmtNumber],
];
const BREAKDOWNS = [
  ["Pages", [["page", "Pages"], ["entry_page", "Entry pages"], ["exit_page", "Exit pages"]]],
  ["Sources", [["source", "Sources"], ["referrer", "Referrers"], ["utm_source", "UTM source"], ["utm_medium", "UTM medium"], ["utm_campaign", "UTM campaign"], ["utm_term", "UTM term"], ["utm_content", "UTM content"]]],
  ["Locations", [["country", "Countries"]]],
  ["Devices", [["browser", "Browsers"], ["os", "Operating systems"], ["device", "Devices"]]],
  ["Events", [["event", "Events"], ["prop", "Event property…"]]],
];
const URL_DIMENSIONS = new Set(["referrer"]);

function parseDate(text) {
  const [y, m, d] = text.split("-").map(Number);
  return new Date(y, m - 1, d);
}

function pick(obj, ...names) {
  for (const name of names) if (obj && obj[name] !== undefined) return obj[name];
  return undefined;
}

/** A bucket label of the API ("2026-11-23" for days, an ISO timestamp with offset for hours) as epoch s. */
function labelTime(label) {
  if (typeof label === "number") return label > 1e12 ? label / 1000 : label;
  if (typeof label !== "string") return NaN;
  if (/^\d{4}-\d{2}-\d{2}$/.test(label)) return parseDate(label).getTime() / 1000;
  return Date.parse(label) / 1000;
}

/** Timeseries points from the API answer ({results: [{date, <metric>}]}) as [{t (epoch s), value}]. */
function seriesPoints(answer, metric) {
  const list = pick(answer, "results", "points") || [];
  return list
    .map((p) => {
      const value = p[metric];
      return { t: labelTime(pick(p, "date", "t", "time")), value: typeof value === "number" ? value : null };
    })
    .filter((p) => Number.isFinite(p.t));
}

/** Summary cards from {results: {metric: {value, previous, change (%)}}}. */
function summaryCards(answer, compare) {
  const results = pick(answer, "results") || {};
  return h(
    "div",
    { class: "summary-grid", "data-testid": "summary" },
    METRICS.map(([key, label, format]) => {
      const item = results[key] || {};
      const delta = typeof item.change === "number" ? item.change : null;
      let note = null;
      if (compare) {
        note = delta === null ? `previous: ${format(item.previous)}` : `${delta >= 0 ? "+" : ""}${fmtNumber(delta)}% vs previous`;
      }
      return h(
        "div",
        { class: "card stat", "data-metric": key },
        h("span", { class: "stat-label", text: label }),
        h("strong", { class: "big-number", text: format(item.value) }),
        note ? h("small", { class: ["delta", delta > 0 ? "up" : delta < 0 ? "down" : null], text: note }) : null,
      );
    }),
  );
}

function breakdownRows(answer) {
  return pick(answer, "results", "rows") || [];
}

const BREAKDOWN_COLUMNS = [
  ["visitors", "Visitors"],
  ["visits", "Visits"],
  ["pageviews", "Pageviews"],
  ["events", "Events"],
];

function breakdownTable(by, rows) {
  if (!rows.length) return empty("No data for this range.");
  const valueOf = (row) => {
    const text = String(row.value ?? "");
    if (URL_DIMENSIONS.has(by)) return externalLink(text, text || "(direct)");
    if (by.endsWith("page")) return h("span", { class: "url", title: text, text: shortPath(text) || "(none)" });
    return text || "(none)";
  };
  const columns = BREAKDOWN_COLUMNS.filter(([key]) => typeof rows[0][key] === "number");
  return table(
    [
      { label: by.startsWith("prop:") ? by.slice(5) : by.replace(/_/g, " "), value: valueOf },
      ...columns.map(([key, label], i) => ({ label, numeric: true, optional: i > 0, value: (row) => fmtNumber(row[key]) })),
    ],
    rows,
    `Breakdown by ${by}`,
    { stack: false },
  );
}

function breakdownCard(source, getRange, title, options) {
  const select = h("select", { "aria-label": `${title}: dimension` }, options.map(([value, label]) => h("option", { value, text: label })));
  const propName = h("input", { type: "text", "aria-label": "Property name", placeholder: "property name", maxlength: 100, class: "prop-name" });
  propName.hidden = true;
  const body = h("div", { class: "breakdown-body" });
  const card = h("section", { class: "card breakdown", "data-breakdown": title.toLowerCase() }, h("div", { class: "section-head" }, h("h3", { text: title }), h("div", { class: "inline" }, options.length > 1 ? select : null, propName)), body);
  let seq = 0;
  async function load() {
    const mine = ++seq;
    let by = select.value;
    propName.hidden = by !== "prop";
    if (by === "prop") {
      const name = propName.value.trim();
      if (!name) {
        replace(body, empty("Type a property name to break events down by it."));
        return;
      }
      by = `prop:${name}`;
    }
    replace(body, loading());
    try {
      const answer = await source.stats("breakdown", { ...getRange(), by, limit: 10 });
      if (mine === seq) replace(body, breakdownTable(by, breakdownRows(answer)));
    } catch (error) {
      if (mine === seq) replace(body, errorBox(error));
    }
  }
  select.addEventListener("change", load);
  propName.addEventListener("change", load);
  propName.addEventListener("keydown", (event) => {
    if (event.key === "Enter") load();
  });
  return { card, load };
}

function funnelCard(source, getRange) {
  const steps = h("textarea", { name: "steps", rows: 3, placeholder: "/\n/pricing\nsignup" });
  const result = h("div", { class: "funnel-result" });
  const form = h(
    "form",
    { class: "funnel-form", novalidate: true },
    field("Steps, one a line", steps, "A page path (starting with /) or an event name, in order."),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary", text: "Show funnel" })),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const list = steps.value.split("\n").map((s) => s.trim()).filter(Boolean);
    if (list.length < 2) {
      replace(result, errorBox(new ApiError(422, "validation_failed", "A funnel needs at least two steps.")));
      return;
    }
    replace(result, loading());
    try {
      const spec = list.map((step) => (step.startsWith("/") ? `page:${step}` : `event:${step}`)).join(",");
      const answer = await source.stats("funnel", { ...getRange(), steps: spec });
      const rows = pick(answer, "steps") || [];
      if (!rows.length) {
        replace(result, empty("No visitors entered this funnel in the range."));
        return;
      }
      replace(
        result,
        table(
          [
            { label: "Step", value: (r) => `${r.step}. ${String(r.label ?? "").replace(/^(page|event):/, "")}` },
            { label: "Visitors", numeric: true, value: (r) => fmtNumber(r.visitors) },
            { label: "From step 1", numeric: true, value: (r) => fmtPercent(r.conversion_rate) },
            { label: "From previous", numeric: true, value: (r) => fmtPercent(r.step_conversion) },
          ],
          rows,
          "Funnel",
        ),
      );
    } catch (error) {
      replace(result, errorBox(error));
    }
  });
  return h("section", { class: "card funnel" }, h("h3", { text: "Funnel" }), form, result);
}

function retentionCard(source, getRange) {
  const body = h("div", { class: "retention-body" });
  const button = h("button", { type: "button", class: "secondary", text: "Show weekly retention" });
  button.addEventListener("click", async () => {
    replace(body, loading());
    try {
      const answer = await source.stats("retention", getRange());
      const cohorts = pick(answer, "cohorts") || [];
      if (!cohorts.length) {
        replace(body, empty("No cohorts in this range."));
        return;
      }
      const width = Math.min(12, Math.max(...cohorts.map((c) => (c.rates || []).length)));
      const columns = [
        { label: "Week of", value: (c) => String(c.week ?? "") },
        { label: "People", numeric: true, value: (c) => fmtNumber(c.size) },
      ];
      for (let i = 0; i < width; i++) {
        columns.push({ label: `W${i}`, numeric: true, value: (c) => (typeof c.rates?.[i] === "number" ? fmtPercent(c.rates[i]) : "") });
      }
      replace(body, table(columns, cohorts, "Weekly retention", { stack: false }));
    } catch (error) {
      replace(body, errorBox(error));
    }
  });
  return h("section", { class: "card retention" }, h("div", { class: "section-head" }, h("h3", { text: "Retention" }), button), body);
}

/** Mount the history view into `container` for a data `source` ({stats(kind, params)}); returns cleanup. */
/** "Export CSV" / "Export JSON": the range's raw events as a file; errors show beside the buttons. */
function exportButtons(source, getRange) {
  const status = h("span", { class: "export-status", role: "status" });
  const button = (format) => {
    const b = h("button", { type: "button", class: "secondary", text: `Export ${format.toUpperCase()}` });
    b.addEventListener("click", async () => {
      b.disabled = true;
      replace(status, h("span", { class: "muted", text: "Preparing…" }));
      try {
        await source.exportRange(format, getRange());
        replace(status);
      } catch (error) {
        replace(status, errorBox(error));
      } finally {
        b.disabled = false;
      }
    });
    return b;
  };
  return h("span", { class: "export-actions" }, button("csv"), button("json"), status);
}

export function historyView(container, source) {
  const preset = h("select", { name: "range", "aria-label": "Date range" }, PRESETS.map(([v, l]) => h("option", { value: v, text: l, selected: v === "7d" })));
  const fromInput = h("input", { type: "date", name: "from", "aria-label": "From" });
  const toInput = h("input", { type: "date", name: "to", "aria-label": "To" });
  const compare = h("input", { type: "checkbox", name: "compare", id: "compare-toggle" });
  const metric = h("select", { name: "metric", "aria-label": "Chart metric" }, METRICS.slice(0, 4).map(([v, l]) => h("option", { value: v, text: l })));
  const custom = h("span", { class: "custom-range" }, fromInput, h("span", { text: "to" }), toInput);
  custom.hidden = true;
  const controls = h(
    "form",
    { class: "history-controls", "aria-label": "History range" },
    preset,
    custom,
    h("label", { class: "check", for: "compare-toggle" }, compare, h("span", { text: "Compare with previous period" })),
    source.exportRange ? exportButtons(source, () => currentRange()) : null,
  );
  controls.addEventListener("submit", (e) => e.preventDefault());
  const summaryBox = h("div", {});
  const chartBox = h("div", { class: "chart", "data-testid": "timeseries" });
  const chartStatus = h("div", {});
  const breakdowns = BREAKDOWNS.map(([title, options]) => breakdownCard(source, () => currentRange(), title, options));
  let chart = null;
  let seq = 0;

  replace(
    container,
    h(
      "section",
      { class: "history", "aria-labelledby": "history-title" },
      h("div", { class: "section-head" }, h("h2", { id: "history-title", text: "History" }), controls),
      summaryBox,
      h("section", { class: "card chart-card" }, h("div", { class: "section-head" }, h("h3", { text: "Over time" }), metric), chartStatus, chartBox),
      h("div", { class: "breakdown-grid" }, breakdowns.map((b) => b.card)),
      h("div", { class: "breakdown-grid" }, funnelCard(source, () => currentRange()), retentionCard(source, () => currentRange())),
    ),
  );

  function currentRange() {
    return presetRange(preset.value, { from: fromInput.value, to: toInput.value });
  }

  async function loadChart(range, mine) {
    if (chart) {
      chart.destroy();
      chart = null;
    }
    replace(chartBox);
    replace(chartStatus, loading());
    const key = metric.value;
    const format = METRICS.find((m) => m[0] === key)[2];
    const interval = intervalFor(range);
    try {
      const [now, before] = await Promise.all([
        source.stats("timeseries", { ...range, interval, metrics: key }),
        compare.checked ? source.stats("timeseries", { ...previousRange(range), interval, metrics: key }) : null,
      ]);
      if (mine !== seq) return;
      const points = seriesPoints(now, key);
      replace(chartStatus, points.some((p) => p.value) ? null : empty("No traffic in this range yet."));
      chart = timeseriesChart(chartBox, {
        points,
        previous: before ? seriesPoints(before, key) : null,
        label: METRICS.find((m) => m[0] === key)[1],
        formatValue: format,
        interval,
        integer: ["visitors", "visits", "pageviews", "events"].includes(key),
      });
    } catch (error) {
      if (mine === seq) replace(chartStatus, errorBox(error));
    }
  }

  async function loadAll() {
    const mine = ++seq;
    custom.hidden = preset.value !== "custom";
    if (preset.value === "custom" && (!fromInput.value || !toInput.value)) return;
    const range = currentRange();
    replace(summaryBox, loading());
    source
      .stats("summary", range)
      .then((answer) => mine === seq && replace(summaryBox, summaryCards(answer, compare.checked)))
      .catch((error) => mine === seq && replace(summaryBox, errorBox(error)));
    loadChart(range, mine);
    for (const b of breakdowns) b.load();
  }

  preset.addEventListener("change", () => {
    if (preset.value === "custom" && !fromInput.value) {
      const r = presetRange("7d");
      fromInput.value = r.from;
      toInput.value = r.to;
    }
    loadAll();
  });
  fromInput.addEventListener("change", loadAll);
  toInput.addEventListener("change", loadAll);
  compare.addEventListener("change", loadAll);
  metric.addEventListener("change", () => loadChart(currentRange(), seq));
  loadAll();
  return {
    reload: loadAll,
    destroy() {
      seq++;
      if (chart) chart.destroy();
    },
  };
}
