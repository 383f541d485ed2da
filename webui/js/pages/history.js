// History: a date range (presets, custom dates, stepped with the arrows), an optional comparison (the
// previous period or the same period last year), filters (a click on any breakdown row, or "Add filter"
// with is, is not, contains, does not contain; a click on a filter's operator turns it around), the summary
// numbers, a timeseries chart (uPlot), breakdown tables with a details view, funnels and retention. A
// site's imported Plausible history is merged into the numbers, chart and breakdowns (`with_imported`;
// a note says how many days, and switches it off). The range, comparison, filters and that switch live
// in the address bar, so a reload or a shared link keeps the view.
// Every value from the API is rendered as text; only http(s) URLs become links.

import { ApiError } from "../api.js";
import { h, replace, loading, empty, errorBox, table, field, fmtNumber, fmtPercent, fmtDuration, countryName } from "../dom.js";
import { timeseriesChart } from "./charts.js";
import { breakdownCard } from "./breakdowns.js";
import { goalsCard } from "./goals.js";
import { shortcuts } from "./shortcuts.js";
import { PRESETS, comparisonRange, describeRange, intervalFor, isDateRange, rangeFor, stepRange } from "../ranges.js";
import { FILTER_LABELS, OPERATORS, addFilter, describeFilter, filterTerms, invertFilter, isFilterKey, parseTerm, readState, removeFilter, writeState } from "../viewstate.js";

const METRICS = [
  ["visitors", "Visitors", fmtNumber],
  ["visits", "Visits", fmtNumber],
  ["pageviews", "Pageviews", fmtNumber],
  ["events", "Events", fmtNumber],
  ["bounce_rate", "Bounce rate", fmtPercent],
  ["visit_duration", "Visit duration", fmtDuration],
  ["views_per_visit", "Views per visit", fmtNumber],
];
// Metrics where a rise is bad news (shown red when they go up).
const LOWER_IS_BETTER = new Set(["bounce_rate"]);
const NO_IMPORT = "The site has no imported history."; // the API's reason when there is nothing to merge
const BREAKDOWNS = [
  ["Pages", [["page", "Pages"], ["entry_page", "Entry pages"], ["exit_page", "Exit pages"]]],
  ["Sources", [["source", "Sources"], ["referrer", "Referrers"], ["utm_source", "UTM source"], ["utm_medium", "UTM medium"], ["utm_campaign", "UTM campaign"], ["utm_term", "UTM term"], ["utm_content", "UTM content"]]],
  ["Locations", [["country", "Countries"]]],
  ["Devices", [["browser", "Browsers"], ["os", "Operating systems"], ["device", "Devices"]]],
  ["Events", [["event", "Events"], ["prop", "Event property…"]]],
];
const COMPARE_LABELS = [
  ["", "No comparison"],
  ["previous", "Compare with previous period"],
  ["year", "Compare with last year"],
];

function parseDate(text) {
  const [y, m, d] = text.split("-").map(Number);
  return new Date(y, m - 1, d);
}

/** A bucket label of the API ("2026-11-23" for days, an ISO timestamp with offset for hours) as epoch s. */
function labelTime(label) {
  if (typeof label !== "string") return NaN;
  if (/^\d{4}-\d{2}-\d{2}$/.test(label)) return parseDate(label).getTime() / 1000;
  return Date.parse(label) / 1000;
}

/** Timeseries points from the API answer ({results: [{date, <metric>}]}) as [{t (epoch s), value}]. */
function seriesPoints(answer, metric) {
  const list = answer.results || [];
  return list
    .map((p) => {
      const value = p[metric];
      return { t: labelTime(p.date), value: typeof value === "number" ? value : null };
    })
    .filter((p) => Number.isFinite(p.t));
}

function change(now, before) {
  if (typeof now !== "number" || typeof before !== "number") return null;
  if (before === 0) return now === 0 ? 0 : null;
  return ((now - before) / before) * 100;
}

/** Summary cards: the range's values, with the change against the comparison's when there is one. */
function summaryCards(answer, before, compareMode) {
  const results = answer.results || {};
  const previous = before ? before.results || {} : null;
  const against = compareMode === "year" ? "last year" : "previous period";
  return h(
    "div",
    { class: "summary-grid", "data-testid": "summary" },
    METRICS.map(([key, label, format]) => {
      const value = results[key]?.value;
      let note = null;
      let tone = null;
      if (previous) {
        const old = previous[key]?.value;
        const delta = change(value, old);
        if (delta === null) note = `${format(old)} in the ${against}`;
        else {
          note = `${delta > 0 ? "+" : ""}${fmtNumber(Math.round(delta * 10) / 10)}% vs ${against}`;
          const better = LOWER_IS_BETTER.has(key) ? delta < 0 : delta > 0;
          tone = delta === 0 ? null : better ? "good" : "bad";
        }
      }
      return h(
        "div",
        { class: "card stat", "data-metric": key },
        h("span", { class: "stat-label", text: label }),
        h("strong", { class: "big-number", text: format(value) }),
        note ? h("small", { class: ["delta", tone], "data-tone": tone, text: note }) : null,
      );
    }),
  );
}

function funnelCard(source, getQuery) {
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
      const answer = await source.stats("funnel", { ...getQuery(), steps: spec });
      const rows = answer.steps || [];
      if (!rows.length) {
        replace(result, empty("No visitors entered this funnel in the range."));
        return;
      }
      const first = rows[0]?.visitors || 0;
      replace(
        result,
        h(
          "ol",
          { class: "funnel-bars" },
          rows.map((r) =>
            h(
              "li",
              {},
              h("span", { class: "funnel-label", text: String(r.label ?? "").replace(/^(page|event):/, "") }),
              h("meter", { min: 0, max: Math.max(1, first), value: r.visitors || 0, "aria-label": `${fmtNumber(r.visitors)} visitors` }),
              h("span", { class: "num", text: `${fmtNumber(r.visitors)} · ${fmtPercent(r.conversion_rate)}` }),
            ),
          ),
        ),
      );
    } catch (error) {
      replace(result, errorBox(error));
    }
  });
  return h("section", { class: "card funnel" }, h("h3", { text: "Funnel" }), form, result);
}

function retentionCard(source, getQuery) {
  const body = h("div", { class: "retention-body" });
  const button = h("button", { type: "button", class: "secondary", text: "Show weekly retention" });
  button.addEventListener("click", async () => {
    replace(body, loading());
    try {
      const answer = await source.stats("retention", getQuery());
      const cohorts = answer.cohorts || [];
      if (!cohorts.length) {
        replace(body, empty("No cohorts in this range."));
        return;
      }
      const width = Math.min(12, Math.max(...cohorts.map((c) => (c.rates || []).length)));
      const columns = [
        { label: "Week of", value: (c) => String(c.week ?? "") },
        { label: "People", numeric: true, value: (c) => fmtNumber(c.size) },
      ];
      const heat = (rate) => `heat-${Math.min(5, Math.floor((rate || 0) / 20))}`;
      for (let i = 0; i < width; i++) {
        columns.push({
          label: `W${i}`,
          numeric: true,
          value: (c) => (typeof c.rates?.[i] === "number" ? h("span", { class: ["heat", heat(c.rates[i])], text: fmtPercent(c.rates[i]) }) : ""),
        });
      }
      replace(body, table(columns, cohorts, "Weekly retention", { stack: false }));
    } catch (error) {
      replace(body, errorBox(error));
    }
  });
  return h("section", { class: "card retention" }, h("div", { class: "section-head" }, h("h3", { text: "Retention" }), button), body);
}

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

/** The bar of active filters: each one says what it keeps, turns around with a click on its operator
 *  (is ↔ is not, contains ↔ does not contain) and can be removed. */
function filterBar(filters, { onRemove, onInvert, onClear }) {
  if (!filters.length) return null;
  return h(
    "div",
    { class: "filter-bar", role: "group", "aria-label": "Active filters", "data-testid": "filter-bar" },
    h("span", { class: "muted", text: "Filtered by" }),
    filters.map((filter) => {
      const [key, op] = filter;
      const { label, operator, values } = describeFilter(filter);
      const shown = values.map((v) => (key === "country" ? countryName(v) : v)).join(" or ");
      const what = `${label} ${operator} ${shown}`;
      const other = describeFilter(invertFilter([filter], key)[0]).operator;
      return h(
        "span",
        { class: "filter-chip", "data-filter": key, "data-op": op },
        h("span", { text: `${label} ` }),
        h("button", { type: "button", class: "chip-invert", "aria-label": `Invert filter ${what}`, title: `Change to “${other}”`, text: operator, onclick: () => onInvert(key) }),
        h("strong", { text: ` ${shown}` }),
        h("button", { type: "button", class: "chip-remove", "aria-label": `Remove filter ${what}`, text: "×", onclick: () => onRemove(key) }),
      );
    }),
    filters.length > 1 ? h("button", { type: "button", class: "link", text: "Clear all", onclick: onClear }) : null,
  );
}

/** "Add filter": any key (a property by name), any operator (contains too) and one or more values
 *  separated by `|`; `onAdd(filter)` gets it once it is one the API takes. */
function addFilterForm(onAdd) {
  const keys = [...Object.entries(FILTER_LABELS), ["prop:", "Property…"]];
  const key = h("select", { name: "filter-key", "aria-label": "Filter on" }, keys.map(([v, l]) => h("option", { value: v, text: l })));
  const propName = h("input", { type: "text", name: "filter-prop", "aria-label": "Property name", placeholder: "Property name", maxlength: "64", hidden: true });
  const op = h("select", { name: "filter-op", "aria-label": "Operator" }, Object.entries(OPERATORS).map(([v, l]) => h("option", { value: v, text: l })));
  const value = h("input", { type: "text", name: "filter-value", "aria-label": "Filter value", placeholder: "Value (several: a|b)", maxlength: "2000" });
  const note = h("span", { class: "field-error", role: "alert" });
  const form = h("form", { class: "filter-add-form", "aria-label": "Add a filter" }, key, propName, op, value, h("button", { type: "submit", text: "Add" }), note);
  const box = h("details", { class: "filter-add", "data-testid": "filter-add" }, h("summary", { text: "Add filter" }), form);
  key.addEventListener("change", () => {
    propName.hidden = key.value !== "prop:";
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const name = key.value === "prop:" ? `prop:${propName.value.trim()}` : key.value;
    if (key.value === "prop:" && !isFilterKey(name)) {
      note.textContent = "Enter a property name made of letters, digits, _ and -.";
      return;
    }
    if (!value.value) {
      note.textContent = "Enter a value to filter by.";
      return;
    }
    const filter = parseTerm(`${name}${op.value}${value.value}`);
    if (!filter) {
      note.textContent = "Enter values of at most 512 characters each, with nothing empty between the | signs.";
      return;
    }
    onAdd(filter);
  });
  return box;
}

/** Mount the history view into `container` for a data `source` ({stats(kind, params)}); returns
 *  {reload, destroy}. */
export function historyView(container, source) {
  const state = readState(location.search);
  const preset = h("select", { name: "range", "aria-label": "Date range" }, PRESETS.map(([v, l]) => h("option", { value: v, text: l, selected: v === state.preset })));
  const fromInput = h("input", { type: "date", name: "from", "aria-label": "From" });
  const toInput = h("input", { type: "date", name: "to", "aria-label": "To" });
  const compare = h("select", { name: "compare", "aria-label": "Comparison" }, COMPARE_LABELS.map(([v, l]) => h("option", { value: v, text: l, selected: v === state.compare })));
  const metric = h("select", { name: "metric", "aria-label": "Chart metric" }, METRICS.slice(0, 4).map(([v, l]) => h("option", { value: v, text: l, selected: v === state.metric })));
  const back = h("button", { type: "button", class: "secondary step", "aria-label": "Previous period", title: "Previous period (←)", text: "‹" });
  const forward = h("button", { type: "button", class: "secondary step", "aria-label": "Next period", title: "Next period (→)", text: "›" });
  const help = h("button", { type: "button", class: "link shortcuts-help", "aria-label": "Keyboard shortcuts", title: "Keyboard shortcuts (?)", text: "?" });
  const custom = h("span", { class: "custom-range" }, fromInput, h("span", { text: "to" }), toInput);
  const rangeText = h("span", { class: "range-text muted", "data-testid": "range-text" });
  const controls = h(
    "form",
    { class: "history-controls", "aria-label": "History range" },
    back,
    preset,
    forward,
    custom,
    compare,
    help,
    source.exportRange ? exportButtons(source, () => currentRange()) : null,
  );
  controls.addEventListener("submit", (e) => e.preventDefault());
  const filtersBox = h("div", { class: "filters-box" });
  const summaryBox = h("div", {});
  const importedNote = h("p", { class: "imported-note muted", "data-testid": "imported-note", hidden: true });
  const chartBox = h("div", { class: "chart", "data-testid": "timeseries" });
  const chartStatus = h("div", {});
  const breakdowns = [
    ...BREAKDOWNS.map(([title, options]) => breakdownCard(source, () => currentQuery(), title, options, applyFilter)),
    goalsCard(source, () => currentQuery()),
  ];
  let chart = null;
  let seq = 0;

  const view = h(
    "section",
    { class: "history", "aria-labelledby": "history-title", "data-loading": "true" },
    h("div", { class: "section-head" }, h("h2", { id: "history-title" }, "History ", rangeText), controls),
    filtersBox,
    summaryBox,
    importedNote,
    h("section", { class: "card chart-card" }, h("div", { class: "section-head" }, h("h3", { text: "Over time" }), metric), chartStatus, chartBox),
    h("div", { class: "breakdown-grid" }, breakdowns.map((b) => b.card)),
    h("div", { class: "breakdown-grid" }, funnelCard(source, () => currentQuery()), retentionCard(source, () => currentQuery())),
  );
  replace(container, view);

  function currentRange() {
    return rangeFor(state.preset, { from: state.from, to: state.to, tz: source.timezone });
  }

  function currentQuery() {
    return { ...currentRange(), filters: filterTerms(state.filters), with_imported: withImported() };
  }

  function withImported() {
    return state.imported ? "true" : "false";
  }

  // What the summary says about imported history: how many days of the range it merged in, or why it
  // could not (filters, hourly series), with the switch to leave it out or bring it back.
  function showImported(answer) {
    const about = answer?.imported;
    const toggle = (label, value) => {
      const button = h("button", { type: "button", class: "link", "data-testid": "imported-toggle", text: label });
      button.addEventListener("click", () => {
        state.imported = value;
        loadAll();
      });
      return button;
    };
    if (!state.imported) {
      replace(importedNote, "Imported data is left out. ", toggle("Include imported data", true));
    } else if (about?.included && about.days > 0) {
      const days = `${fmtNumber(about.days)} ${about.days === 1 ? "day" : "days"}`;
      replace(importedNote, `Includes ${days} imported from Plausible (days without events of Eddy's own). `, toggle("Leave out imported data", false));
    } else if (about && !about.included && about.reason !== NO_IMPORT) {
      replace(importedNote, about.reason);
    } else {
      replace(importedNote);
      importedNote.hidden = true;
      return;
    }
    importedNote.hidden = false;
  }

  function syncControls() {
    preset.value = state.preset;
    compare.value = state.compare;
    metric.value = state.metric;
    const range = currentRange();
    custom.hidden = state.preset !== "custom";
    if (isDateRange(range)) {
      fromInput.value = range.from;
      toInput.value = range.to;
    }
    rangeText.textContent = describeRange(range);
    const path = location.pathname + writeState(state, location.search) + location.hash;
    if (path !== location.pathname + location.search + location.hash) history.replaceState(history.state, "", path);
  }

  function applyFilter(filter) {
    state.filters = addFilter(state.filters, filter);
    loadAll();
  }

  async function loadChart(range, mine) {
    if (chart) {
      chart.destroy();
      chart = null;
    }
    replace(chartBox);
    replace(chartStatus, loading());
    const key = state.metric;
    const format = METRICS.find((m) => m[0] === key)[2];
    const interval = intervalFor(range);
    const filters = filterTerms(state.filters);
    const other = comparisonRange(range, state.compare);
    try {
      const [now, before] = await Promise.all([
        source.stats("timeseries", { ...range, interval, metrics: key, filters, with_imported: withImported() }),
        other ? source.stats("timeseries", { ...other, interval, metrics: key, filters, with_imported: withImported() }) : null,
      ]);
      if (mine !== seq) return;
      const points = seriesPoints(now, key);
      replace(chartStatus, points.some((p) => p.value) ? null : empty("No traffic in this range yet."));
      chart = timeseriesChart(chartBox, {
        points,
        previous: before ? seriesPoints(before, key) : null,
        previousLabel: state.compare === "year" ? "Last year" : "Previous period",
        label: METRICS.find((m) => m[0] === key)[1],
        formatValue: format,
        interval,
        integer: ["visitors", "visits", "pageviews", "events"].includes(key),
      });
    } catch (error) {
      if (mine === seq) replace(chartStatus, errorBox(error));
    }
  }

  async function loadSummary(range, mine) {
    replace(summaryBox, loading());
    const filters = filterTerms(state.filters);
    const other = comparisonRange(range, state.compare);
    const started = performance.now();
    try {
      const [now, before] = await Promise.all([
        source.stats("summary", { ...range, filters, with_imported: withImported() }),
        other ? source.stats("summary", { ...other, filters, with_imported: withImported() }) : null,
      ]);
      if (mine !== seq) return;
      replace(summaryBox, summaryCards(now, before, state.compare));
      showImported(now);
      summaryBox.dataset.paintMs = String(Math.round(performance.now() - started));
    } catch (error) {
      if (mine === seq) replace(summaryBox, errorBox(error));
    }
  }

  function loadAll() {
    const mine = ++seq;
    view.dataset.seq = String(mine);
    syncControls();
    replace(
      filtersBox,
      filterBar(state.filters, {
        onRemove(key) {
          state.filters = removeFilter(state.filters, key);
          loadAll();
        },
        onInvert(key) {
          state.filters = invertFilter(state.filters, key);
          loadAll();
        },
        onClear() {
          state.filters = [];
          loadAll();
        },
      }),
      addFilterForm(applyFilter),
    );
    const range = currentRange();
    const started = performance.now();
    view.dataset.loading = "true";
    const work = [loadSummary(range, mine), loadChart(range, mine), ...breakdowns.map((b) => b.load())];
    Promise.allSettled(work).then(() => {
      if (mine !== seq) return;
      // When every panel of this view has painted (read by the browser tests as the paint time).
      requestAnimationFrame(() => {
        if (mine !== seq) return;
        view.dataset.paintMs = String(Math.round(performance.now() - started));
        view.dataset.loading = "false";
      });
    });
  }

  function setPreset(name) {
    state.preset = name;
    if (name === "custom") {
      const range = isDateRange(currentRange()) ? currentRange() : rangeFor("7d", { tz: source.timezone });
      state.from = fromInput.value || range.from;
      state.to = toInput.value || range.to;
    }
    loadAll();
  }

  function step(direction) {
    const next = stepRange(currentRange(), direction);
    if (!isDateRange(next)) return; // the last 24 hours do not step: they always end now
    state.preset = "custom";
    state.from = next.from;
    state.to = next.to;
    loadAll();
  }

  preset.addEventListener("change", () => setPreset(preset.value));
  const customChanged = () => {
    state.preset = "custom";
    state.from = fromInput.value;
    state.to = toInput.value;
    if (state.from && state.to) loadAll();
  };
  fromInput.addEventListener("change", customChanged);
  toInput.addEventListener("change", customChanged);
  compare.addEventListener("change", () => {
    state.compare = compare.value;
    loadAll();
  });
  metric.addEventListener("change", () => {
    state.metric = metric.value;
    syncControls();
    loadChart(currentRange(), seq);
  });
  back.addEventListener("click", () => step(-1));
  forward.addEventListener("click", () => step(1));
  const keys = shortcuts({
    t: ["Today", () => setPreset("today")],
    y: ["Yesterday", () => setPreset("yesterday")],
    d: ["Last 24 hours", () => setPreset("24h")],
    w: ["Last 7 days", () => setPreset("7d")],
    f: ["Last 30 days", () => setPreset("30d")],
    m: ["Month to date", () => setPreset("mtd")],
    l: ["Last month", () => setPreset("lastmonth")],
    r: ["Last 12 months", () => setPreset("12mo")],
    a: ["All time", () => setPreset("all")],
    c: [
      "Compare: none, previous period, last year",
      () => {
        state.compare = COMPARE_LABELS[(COMPARE_LABELS.findIndex(([v]) => v === state.compare) + 1) % COMPARE_LABELS.length][0];
        loadAll();
      },
    ],
    ArrowLeft: ["Previous period", () => step(-1)],
    ArrowRight: ["Next period", () => step(1)],
  });
  help.addEventListener("click", () => keys.showHelp());
  loadAll();
  return {
    reload: loadAll,
    destroy() {
      seq++;
      keys.destroy();
      for (const b of breakdowns) b.destroy();
      if (chart) chart.destroy();
    },
  };
}
