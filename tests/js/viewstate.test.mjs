// The history view's state in the address bar (webui/js/viewstate.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { addFilter, describeFilter, filterForRow, filterTerms, invertFilter, parseTerm, parseValues, readState, removeFilter, writeState } from "../../webui/js/viewstate.js";

test("a state survives the address bar, keeping other parameters", () => {
  const filters = [["country", "!=", ["DE", "FR"]], ["page", "=~", ["/a;b==c", "x|y\\z"]], ["prop:plan", "==", ["pro"]]];
  const state = { preset: "custom", from: "2026-03-30", to: "2026-04-05", compare: "year", metric: "pageviews", filters, imported: false };
  const search = writeState(state, "?keep=1&range=7d");
  assert.ok(search.startsWith("?keep=1&"));
  assert.ok(search.includes("imported=0"));
  assert.deepEqual(readState(search), state);
  assert.deepEqual(readState(writeState({ ...state, imported: true })), { ...state, imported: true });
  assert.equal(writeState({ preset: "7d", from: "", to: "", compare: "", metric: "visitors", filters: [], imported: true }), "");
});

test("filters read and write the API's syntax: operators, | between values, backslash escapes", () => {
  assert.deepEqual(parseTerm("country==DE"), ["country", "==", ["DE"]]);
  assert.deepEqual(parseTerm("country!=DE|FR"), ["country", "!=", ["DE", "FR"]]);
  assert.deepEqual(parseTerm("page=~blog"), ["page", "=~", ["blog"]]);
  assert.deepEqual(parseTerm("trait:band!~18"), ["trait:band", "!~", ["18"]]);
  assert.deepEqual(parseTerm("prop:tag==a\\|b|c\\;d|e\\\\"), ["prop:tag", "==", ["a|b", "c;d", "e\\"]]);
  assert.deepEqual(parseValues("a\\b|c"), ["a\\b", "c"]); // a lone backslash is itself
  assert.deepEqual(filterTerms([["prop:tag", "==", ["a|b", "c;d", "e\\"]]]), ["prop:tag==a\\|b|c\\;d|e\\\\"]);
  for (const bad of ["country", "country=DE", "evil==1", "page=~", "country==DE|", "page==/a*|/b", "prop:a.b==1"]) {
    assert.equal(parseTerm(bad), null, bad);
  }
  assert.deepEqual(readState("?filters=country%3D%3DDE%3Bpage%3D~blog").filters, [["country", "==", ["DE"]], ["page", "=~", ["blog"]]]);
});

test("bad or unknown parts of a shared link are dropped", () => {
  const state = readState("?range=forever&compare=maybe&filters=evil==1&filters=country==&filters=os==Linux&from=2026-02-30&metric=x");
  assert.equal(state.preset, "7d");
  assert.equal(state.compare, "");
  assert.equal(state.metric, "visitors");
  assert.deepEqual(state.filters, [["os", "==", ["Linux"]]]);
  assert.equal(readState("?range=custom&from=2026-01-01").preset, "7d");
});

test("rows become filters with the API's names; one filter per key; invert turns it around", () => {
  assert.deepEqual(filterForRow("entry_page", "/x"), ["page", "==", ["/x"]]);
  assert.deepEqual(filterForRow("prop:plan", "pro"), ["prop:plan", "==", ["pro"]]);
  assert.equal(filterForRow("source", ""), null);
  let filters = addFilter([], ["country", "==", ["DE"]]);
  filters = addFilter(filters, ["country", "==", ["FR"]]);
  assert.deepEqual(filters, [["country", "==", ["FR"]]]);
  filters = addFilter(filters, ["page", "=~", ["blog"]]);
  filters = invertFilter(invertFilter(filters, "country"), "page");
  assert.deepEqual(filters, [["country", "!=", ["FR"]], ["page", "!~", ["blog"]]]);
  assert.deepEqual(invertFilter(filters, "country")[0], ["country", "==", ["FR"]]);
  assert.deepEqual(removeFilter(filters, "country"), [["page", "!~", ["blog"]]]);
  assert.deepEqual(describeFilter(["page", "==", ["/blog/*"]]), { label: "Page", operator: "starts with", values: ["/blog/"] });
  assert.deepEqual(describeFilter(["page", "!=", ["/blog/*"]]), { label: "Page", operator: "does not start with", values: ["/blog/"] });
  assert.deepEqual(describeFilter(["browser", "!~", ["fire"]]), { label: "Browser", operator: "does not contain", values: ["fire"] });
});
