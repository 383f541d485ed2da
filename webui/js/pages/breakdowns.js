// Breakdown cards of the history view: the top 10 values of a dimension with the same columns at every
// range (visitors, visits, pageviews or events, bounce rate, visit duration; "—" where the API answers
// null), each row a button that filters the whole view by that value, and a "Details" dialog with up to
// 500 rows, a search box and sorting by any column. Pages also show their time on page and scroll depth
// (stats/engagement, filled in once the view has painted) and their titles on hover (stats/titles, asked
// the first time the pointer or focus enters the table).

import { h, replace, loading, empty, errorBox, fmtNumber, fmtPercent, fmtDuration, externalLink, shortPath, countryName, watchOverflow } from "../dom.js";
import { filterForRow } from "../viewstate.js";
import { worldMap } from "./worldmap.js";

const DETAILS_LIMIT = 500;
const PAGE_DIMENSIONS = new Set(["page", "entry_page", "exit_page"]);
const ENRICH_LIMIT = 100; // pages whose titles and engagement are asked for (the API's bound)
const MAP_LIMIT = 300; // every country, for the world map
const URL_DIMENSIONS = new Set(["referrer"]);
const DIRECT_DIMENSIONS = new Set(["source", "referrer"]);

/** The numeric columns of a breakdown: [key, label, format]. */
function columnsFor(by) {
  const counted = by === "event" || by.startsWith("prop:") ? ["events", "Events"] : ["pageviews", "Pageviews"];
  const columns = [
    ["visitors", "Visitors", fmtNumber],
    ["visits", "Visits", fmtNumber],
    [counted[0], counted[1], fmtNumber],
    ["bounce_rate", "Bounce rate", fmtPercent],
    ["visit_duration", "Duration", fmtDuration],
  ];
  // Engagement belongs to a page (not to the visits entering or leaving by it).
  if (by === "page") columns.push(["time_on_page_s", "Time on page", fmtDuration], ["scroll_depth", "Scroll depth", fmtPercent]);
  return columns;
}

/** Resolves once the history view holding `el` has painted every panel (its data-loading turns
 *  "false"), so the extras asked for afterwards (titles, engagement, the map) never queue ahead of the
 *  numbers of another card. */
export function afterViewPaint(el) {
  const view = el.closest("section.history");
  if (!view || view.dataset.loading === "false") return Promise.resolve();
  return new Promise((resolve) => {
    const watch = new MutationObserver(() => {
      if (view.dataset.loading !== "false") return;
      watch.disconnect();
      resolve();
    });
    watch.observe(view, { attributes: true, attributeFilter: ["data-loading"] });
  });
}

/** Rows of `page` with their engagement added; other rows as they are. A failure leaves the rows
 *  without it: the numbers already shown stay. */
async function enrich(source, query, by, rows) {
  if (by !== "page" || !rows.length) return rows;
  const pages = rows.slice(0, ENRICH_LIMIT).map((row) => String(row.value ?? "")).filter(Boolean);
  const engagement = await source.stats("engagement", { ...query, pages }).catch(() => null);
  if (!engagement) return rows;
  const engaged = new Map((engagement.pages || []).map((page) => [page.page, page]));
  return rows.map((row) => {
    const more = engaged.get(row.value);
    return { ...row, time_on_page_s: more?.time_on_page_s, scroll_depth: more?.scroll_depth };
  });
}

/** Titles on hover for the page rows inside `box`: asked (stats/titles) the first time the pointer or
 *  focus enters it, then put on every row button there; `apply()` puts them again after a re-render. */
function hoverTitles(box, source, query, by) {
  let titles = null;
  const apply = () => {
    if (!titles) return;
    for (const button of box.querySelectorAll(".row-filter[data-value]")) {
      const title = titles[button.dataset.value];
      if (!title) continue;
      button.title = `${title}\n${button.dataset.value}`;
      button.dataset.title = title;
    }
    box.dataset.titled = "true";
  };
  if (!PAGE_DIMENSIONS.has(by)) return { apply };
  const ask = () => {
    box.removeEventListener("pointerenter", ask);
    box.removeEventListener("focusin", ask);
    const pages = [...box.querySelectorAll(".row-filter[data-value]")].slice(0, ENRICH_LIMIT).map((button) => button.dataset.value);
    source
      .stats("titles", { ...query, pages })
      .then((answer) => {
        titles = answer?.titles || {};
        apply();
      })
      .catch(() => {}); // no titles: the paths still read
  };
  box.addEventListener("pointerenter", ask);
  box.addEventListener("focusin", ask);
  return { apply };
}

const DIMENSION_LABELS = { os: "Operating system", utm_source: "UTM source", utm_medium: "UTM medium", utm_campaign: "UTM campaign", utm_term: "UTM term", utm_content: "UTM content" };

function dimensionLabel(by) {
  if (by.startsWith("prop:")) return by.slice(5);
  const text = DIMENSION_LABELS[by] || by.replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** What a row's value reads as: country names, short paths, "(direct)" for no source, "(none)" else. */
function displayValue(by, value) {
  const text = String(value ?? "");
  if (!text) return DIRECT_DIMENSIONS.has(by) ? "(direct)" : "(none)";
  if (by === "country") return countryName(text);
  if (by.endsWith("page")) return shortPath(text) || text;
  return text;
}

/** The value cell: a button that filters by the value (when it can be filtered on), plus a link out
 *  for URLs. */
function valueCell(by, row, onFilter) {
  const text = String(row.value ?? "");
  const shown = displayValue(by, text);
  const filter = filterForRow(by, text);
  const title = by === "country" && text ? `${shown} (${text})` : text || shown;
  const main = filter
    ? h("button", { type: "button", class: "row-filter", title: `Filter by ${title}`, "data-value": text, text: shown, onclick: () => onFilter(filter) })
    : h("span", { class: "url", title, text: shown });
  const out = URL_DIMENSIONS.has(by) && text ? externalLink(text, "↗") : null;
  if (out) out.setAttribute("aria-label", `Open ${text}`);
  return h("span", { class: "value-cell" }, main, out);
}

function rowsTable(by, rows, onFilter, { sortKey = null, sortDir = -1, onSort = null } = {}) {
  const columns = columnsFor(by);
  const header = (key, label, numeric, optional) => {
    const attrs = { scope: "col", class: [numeric ? "num" : null, optional ? "opt" : null] };
    if (!onSort) return h("th", { ...attrs, text: label });
    const current = sortKey === key;
    return h(
      "th",
      { ...attrs, "aria-sort": current ? (sortDir < 0 ? "descending" : "ascending") : "none" },
      h("button", { type: "button", class: "sort", onclick: () => onSort(key), text: `${label}${current ? (sortDir < 0 ? " ↓" : " ↑") : ""}` }),
    );
  };
  return watchOverflow(h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", { class: "sr-only", text: `Breakdown by ${dimensionLabel(by)}` }),
      h("thead", {}, h("tr", {}, header("value", dimensionLabel(by), false, false), columns.map(([key, label]) => header(key, label, true, false)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h(
            "tr",
            {},
            h("td", { "data-label": dimensionLabel(by) }, valueCell(by, row, onFilter)),
            columns.map(([key, label, format]) => h("td", { class: "num", "data-label": label, text: format(row[key]) })),
          ),
        ),
      ),
    ),
  ));
}

/** The details dialog of one breakdown: many rows, a search box, sorting by any column. */
function openDetails(source, query, by, title, onFilter, onOpen) {
  const search = h("input", { type: "search", "aria-label": `Search ${title.toLowerCase()}`, placeholder: "Search", maxlength: 200 });
  const body = h("div", { class: "details-body" }, loading());
  const close = h("button", { type: "button", class: "secondary", text: "Close" });
  const dialog = h(
    "dialog",
    { class: "details", "aria-label": `${title} details`, "data-testid": "details" },
    h("div", { class: "section-head" }, h("h2", { text: `${title}: ${dimensionLabel(by)}` }), close),
    search,
    body,
  );
  let rows = [];
  let sortKey = "visitors";
  let sortDir = -1;
  const titles = hoverTitles(body, source, query, by);
  const draw = () => {
    const needle = search.value.trim().toLowerCase();
    const shown = rows
      .filter((row) => !needle || `${row.value ?? ""} ${displayValue(by, row.value)}`.toLowerCase().includes(needle))
      .sort((a, b) => {
        const x = sortKey === "value" ? displayValue(by, a.value) : a[sortKey];
        const y = sortKey === "value" ? displayValue(by, b.value) : b[sortKey];
        if (typeof x === "string" || typeof y === "string") return String(x ?? "").localeCompare(String(y ?? "")) * sortDir;
        return ((x ?? -Infinity) - (y ?? -Infinity)) * sortDir || 0;
      });
    replace(
      body,
      shown.length
        ? rowsTable(by, shown, pickAndClose, {
            sortKey,
            sortDir,
            onSort: (key) => {
              sortDir = key === sortKey ? -sortDir : key === "value" ? 1 : -1;
              sortKey = key;
              draw();
            },
          })
        : empty(needle ? "Nothing matches this search." : "No data for this range."),
      h("p", { class: "muted", text: `${shown.length} of ${rows.length}${rows.length >= DETAILS_LIMIT ? " (the top 500)" : ""}` }),
    );
    titles.apply();
  };
  function pickAndClose(filter) {
    dialog.close();
    onFilter(filter);
  }
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  search.addEventListener("input", draw);
  document.body.append(dialog);
  dialog.showModal();
  onOpen?.(dialog);
  search.focus();
  source
    .stats("breakdown", { ...query, by, limit: DETAILS_LIMIT })
    .then(async (answer) => {
      rows = answer?.results || [];
      draw();
      const more = await enrich(source, query, by, rows);
      if (more !== rows && dialog.open) {
        rows = more;
        draw();
      }
    })
    .catch((error) => replace(body, errorBox(error)));
}

/** One breakdown card; `getQuery()` gives the range and filters, `onFilter([key, op, values])` adds a filter. */
export function breakdownCard(source, getQuery, title, options, onFilter) {
  const select = h("select", { "aria-label": `${title}: dimension` }, options.map(([value, label]) => h("option", { value, text: label })));
  const propName = h("input", { type: "text", "aria-label": "Property name", placeholder: "property name", maxlength: 100, class: "prop-name" });
  propName.hidden = true;
  const details = h("button", { type: "button", class: "link details-open", text: "Details", "aria-label": `${title}: details` });
  const body = h("div", { class: "breakdown-body" });
  const card = h(
    "section",
    { class: "card breakdown", "data-breakdown": title.toLowerCase() },
    h("div", { class: "section-head" }, h("h3", { text: title }), h("div", { class: "inline" }, options.length > 1 ? select : null, propName, details)),
    body,
  );
  let seq = 0;
  let open = null; // the details dialog, closed when the view goes away
  function dimension() {
    if (select.value !== "prop") return select.value;
    const name = propName.value.trim();
    return name ? `prop:${name}` : null;
  }
  async function load() {
    const mine = ++seq;
    propName.hidden = select.value !== "prop";
    const by = dimension();
    delete card.dataset.enriched;
    details.hidden = !by;
    if (!by) {
      replace(body, empty("Type a property name to break events down by it."));
      return;
    }
    replace(body, loading());
    const query = getQuery();
    const box = h("div", { class: "rows-box" }); // this load's rows (their hover titles live with it)
    let rows;
    try {
      const answer = await source.stats("breakdown", { ...query, by, limit: 10 });
      if (mine !== seq) return;
      rows = answer?.results || [];
      replace(box, rows.length ? rowsTable(by, rows, onFilter) : empty("No data for this range."));
      replace(body, box);
    } catch (error) {
      if (mine === seq) replace(body, errorBox(error));
      return;
    }
    const titles = hoverTitles(box, source, query, by);
    // Engagement and the world map come after the view's numbers have painted (not awaited: they
    // never hold the view's paint up).
    if (by === "page" && rows.length) {
      afterViewPaint(card)
        .then(() => (mine === seq ? enrich(source, query, by, rows) : rows))
        .then((more) => {
          if (mine !== seq) return;
          if (more !== rows) {
            replace(box, rowsTable(by, more, onFilter));
            titles.apply();
          }
          card.dataset.enriched = "true";
        });
    }
    if (by === "country" && rows.some((row) => row.value)) {
      afterViewPaint(card)
        .then(() => mine === seq && source.stats("breakdown", { ...query, by, limit: MAP_LIMIT }))
        .then((all) => all && mine === seq && worldMap(all.results || [], onFilter))
        .then((map) => map && mine === seq && body.prepend(map))
        .catch(() => {}); // the table already holds the numbers
    }
  }
  details.addEventListener("click", () => {
    const by = dimension();
    if (by) openDetails(source, getQuery(), by, title, onFilter, (dialog) => (open = dialog));
  });
  select.addEventListener("change", load);
  propName.addEventListener("change", load);
  propName.addEventListener("keydown", (event) => {
    if (event.key === "Enter") load();
  });
  return {
    card,
    load,
    destroy() {
      seq++;
      if (open?.open) open.close();
    },
  };
}
