// The history view's state (range, comparison, filters, chart metric) and its text in the address bar,
// so a view can be bookmarked, shared and reloaded. Filters use the stats API's own names and syntax
// (`filters=country==DE`, `page==/blog/*` for a path prefix), the same names the live panel's tail uses.
// No DOM here: node's test runner imports this module as it is.

import { PRESET_NAMES, isDate } from "./ranges.js";

export const DEFAULT_PRESET = "7d";
export const COMPARE_MODES = ["", "previous", "year"];
// Filter keys the API accepts (domain/stats/query.py FILTER_FIELDS) and how a person reads them.
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
const PROP = /^(prop|trait):[A-Za-z0-9_-]{1,100}$/;
const MAX_FILTERS = 10;
const MAX_VALUE = 512;
const METRIC_NAMES = new Set(["visitors", "visits", "pageviews", "events"]);
const OWN_PARAMS = ["range", "from", "to", "compare", "filters", "metric"];

/** Whether `key` is a filter key the API knows. */
export function isFilterKey(key) {
  return Object.hasOwn(FILTER_LABELS, key) || PROP.test(key);
}

/** The filter a breakdown row stands for: [key, value], or null when it cannot be filtered on. */
export function filterForRow(by, value) {
  const text = String(value ?? "");
  if (!text) return null;
  if (by === "entry_page" || by === "exit_page") return ["page", text];
  if (by.startsWith("prop:")) return PROP.test(by) ? [by, text] : null;
  return isFilterKey(by) ? [by, text] : null;
}

/** A filter as a person reads it: {label, operator, value}. */
export function describeFilter([key, value]) {
  const label = FILTER_LABELS[key] || (key.startsWith("prop:") ? `Property ${key.slice(5)}` : `Trait ${key.slice(6)}`);
  if (key === "page" && value.endsWith("*")) return { label, operator: "starts with", value: value.slice(0, -1) };
  return { label, operator: "is", value };
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
  };
  if (state.preset === "custom" && !(state.from && state.to)) state.preset = DEFAULT_PRESET;
  for (const term of params.getAll("filters")) {
    const at = term.indexOf("==");
    if (at <= 0) continue;
    const key = term.slice(0, at);
    const value = term.slice(at + 2);
    if (isFilterKey(key) && value && value.length <= MAX_VALUE) state.filters = addFilter(state.filters, [key, value]);
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
  for (const [key, value] of state.filters) params.append("filters", `${key}==${value}`);
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** `filters` with [key, value] added: one filter per key (a new value replaces the old), at most ten. */
export function addFilter(filters, [key, value]) {
  const kept = filters.filter(([k]) => k !== key);
  return kept.length >= MAX_FILTERS ? filters : [...kept, [key, value]];
}

/** `filters` without the one on `key`. */
export function removeFilter(filters, key) {
  return filters.filter(([k]) => k !== key);
}

/** The filters as the stats API takes them: one `key==value` term each. */
export function filterTerms(filters) {
  return filters.map(([key, value]) => `${key}==${value}`);
}
