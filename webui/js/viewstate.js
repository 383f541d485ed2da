// The history view's state (range, comparison, filters, chart metric, imported data in or out) and its text in the address bar,
// so a view can be bookmarked, shared and reloaded. Filters use the stats API's own names and syntax
// (`filters=country==DE`, `country!=DE|FR`, `page=~blog`, `page==/blog/*` for a path prefix; see
// domain/stats/filters.py), the same names the live panel's tail uses. A filter is [key, operator, values].
// No DOM here: node's test runner imports this module as it is.

import { PRESET_NAMES, isDate } from "./ranges.js";

export const DEFAULT_PRESET = "7d";
export const COMPARE_MODES = ["", "previous", "year"];
// Filter keys the API accepts (domain/stats/filters.py FILTER_FIELDS) and how a person reads them.
export const FILTER_LABELS = {
  page: "Page",
  hostname: "Hostname",
  source: "Source",
  referrer: "Referrer",
  utm_source: "UTM source",
  utm_medium: "UTM medium",
  utm_campaign: "UTM campaign",
  utm_term: "UTM term",
  utm_content: "UTM content",
  country: "Country",
  browser: "Browser",
  os: "Operating system",
  device: "Device",
  event: "Event",
};
const PROP = /^(prop|trait):[A-Za-z0-9_-]{1,64}$/;
const MAX_FILTERS = 10;
const MAX_VALUES = 50;
const MAX_VALUE = 512;
const METRIC_NAMES = new Set(["visitors", "visits", "pageviews", "events"]);
const OWN_PARAMS = ["range", "from", "to", "compare", "filters", "metric", "imported"];
// The API's operators (domain/stats/filters.py) and how a person reads them.
export const OPERATORS = { "==": "is", "!=": "is not", "=~": "contains", "!~": "does not contain" };
const INVERSE = { "==": "!=", "!=": "==", "=~": "!~", "!~": "=~" };
const TERM = /^\s*([^=!~\s]+)\s*(==|!=|=~|!~)/;
const ESCAPED = new Set(["\\", "|", ";"]);

/** Whether `key` is a filter key the API knows. */
export function isFilterKey(key) {
  return Object.hasOwn(FILTER_LABELS, key) || PROP.test(key);
}

/** `text` cut at each `separator` that no backslash escapes (the escapes kept for `unescape`). */
export function splitUnescaped(text, separator) {
  const pieces = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === "\\" && ESCAPED.has(text[i + 1])) {
      current += char + text[i + 1];
      i++;
    } else if (char === separator) {
      pieces.push(current);
      current = "";
    } else {
      current += char;
    }
  }
  pieces.push(current);
  return pieces;
}

function unescape(text) {
  return text.replace(/\\([\\|;])/g, "$1");
}

function escape(value) {
  return value.replace(/[\\|;]/g, (c) => `\\${c}`);
}

/** Values as a person types them: several separated by `|` (`\|` for a literal one). */
export function parseValues(text) {
  return splitUnescaped(text, "|").map(unescape);
}

/** A filter as the API writes it (`country==DE|FR`), or null when the text is not one the API takes
 *  (unknown key or operator, too many or too long values) or one a person could not read (an empty
 *  value). */
export function parseTerm(text) {
  const found = TERM.exec(text);
  if (!found || !isFilterKey(found[1])) return null;
  const [, key, op] = found;
  const values = parseValues(text.slice(found[0].length));
  if (values.length > MAX_VALUES || values.some((v) => v.length > MAX_VALUE)) return null;
  if (values.some((v) => !v)) return null;
  if (key === "page" && (op === "==" || op === "!=") && new Set(values.map((v) => v.endsWith("*"))).size > 1) return null;
  return [key, op, values];
}

/** The filter a breakdown row stands for: [key, "==", [value]], or null when it cannot be filtered on. */
export function filterForRow(by, value) {
  const text = String(value ?? "");
  if (!text) return null;
  if (by === "entry_page" || by === "exit_page") return ["page", "==", [text]];
  if (by.startsWith("prop:")) return PROP.test(by) ? [by, "==", [text]] : null;
  return isFilterKey(by) ? [by, "==", [text]] : null;
}

/** The label a person reads for a filter key. */
export function filterLabel(key) {
  return FILTER_LABELS[key] || (key.startsWith("prop:") ? `Property ${key.slice(5)}` : `Trait ${key.slice(6)}`);
}

/** A filter as a person reads it: {label, operator, values} (page prefixes as "starts with"). */
export function describeFilter([key, op, values]) {
  const label = filterLabel(key);
  if (key === "page" && (op === "==" || op === "!=") && values[0].endsWith("*")) {
    return { label, operator: op === "==" ? "starts with" : "does not start with", values: values.map((v) => v.slice(0, -1)) };
  }
  return { label, operator: OPERATORS[op], values };
}

/** The state of a query string (unknown or bad parts are dropped, never shown). */
export function readState(search) {
  const params = new URLSearchParams(search);
  const range = params.get("range");
  const state = {
    preset: PRESET_NAMES.has(range) ? range : DEFAULT_PRESET,
    from: isDate(params.get("from")) ? params.get("from") : "",
    to: isDate(params.get("to")) ? params.get("to") : "",
    compare: COMPARE_MODES.includes(params.get("compare")) ? params.get("compare") : "",
    metric: METRIC_NAMES.has(params.get("metric")) ? params.get("metric") : "visitors",
    filters: [],
    // Imported history is merged in unless the address says `imported=0` (as Plausible's dashboard does).
    imported: params.get("imported") !== "0",
  };
  if (state.preset === "custom" && !(state.from && state.to)) state.preset = DEFAULT_PRESET;
  for (const item of params.getAll("filters")) {
    for (const text of splitUnescaped(item, ";")) {
      const filter = parseTerm(text);
      if (filter) state.filters = addFilter(state.filters, filter);
    }
  }
  return state;
}

/** The query string of a state, keeping the parameters that are not the view's own. */
export function writeState(state, search = "") {
  const params = new URLSearchParams(search);
  for (const name of OWN_PARAMS) params.delete(name);
  if (state.preset !== DEFAULT_PRESET) params.set("range", state.preset);
  if (state.preset === "custom") {
    params.set("from", state.from);
    params.set("to", state.to);
  }
  if (state.compare) params.set("compare", state.compare);
  if (state.metric && state.metric !== "visitors") params.set("metric", state.metric);
  if (state.imported === false) params.set("imported", "0");
  for (const term of filterTerms(state.filters)) params.append("filters", term);
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** `filters` with `filter` added: one filter per key (a new one replaces the old), at most ten. */
export function addFilter(filters, filter) {
  const kept = filters.filter(([k]) => k !== filter[0]);
  return kept.length >= MAX_FILTERS ? filters : [...kept, filter];
}

/** `filters` without the one on `key`. */
export function removeFilter(filters, key) {
  return filters.filter(([k]) => k !== key);
}

/** `filters` with the one on `key` turned around: is ↔ is not, contains ↔ does not contain. */
export function invertFilter(filters, key) {
  return filters.map(([k, op, values]) => (k === key ? [k, INVERSE[op], values] : [k, op, values]));
}

/** The filters as the stats API takes them: one term each, values joined by `|` and escaped. */
export function filterTerms(filters) {
  return filters.map(([key, op, values]) => key + op + values.map(escape).join("|"));
}
