// The history view's state in the address bar (webui/js/viewstate.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { addFilter, describeFilter, filterForRow, readState, removeFilter, writeState } from "../../webui/js/viewstate.js";

test("a state survives the address bar, keeping other parameters", () => {
  const state = { preset: "custom", from: "2026-03-30", to: "2026-04-05", compare: "year", metric: "pageviews", filters: [["country", "DE"], ["page", "/a;b==c"]] };
  const search = writeState(state, "?keep=1&range=7d");
  assert.ok(search.startsWith("?keep=1&"));
  assert.deepEqual(readState(search), state);
  assert.equal(writeState({ preset: "7d", from: "", to: "", compare: "", metric: "visitors", filters: [] }), "");
});

test("bad or unknown parts of a shared link are dropped", () => {
  const state = readState("?range=forever&compare=maybe&filters=evil==1&filters=country==&filters=os==Linux&from=2026-02-30&metric=x");
  assert.equal(state.preset, "7d");
  assert.equal(state.compare, "");
  assert.equal(state.metric, "visitors");
  assert.deepEqual(state.filters, [["os", "Linux"]]);
  assert.equal(readState("?range=custom&from=2026-01-01").preset, "7d");
});

test("rows become filters with the API's names; one filter per key", () => {
  assert.deepEqual(filterForRow("entry_page", "/x"), ["page", "/x"]);
  assert.deepEqual(filterForRow("prop:plan", "pro"), ["prop:plan", "pro"]);
  assert.equal(filterForRow("source", ""), null);
  let filters = addFilter([], ["country", "DE"]);
  filters = addFilter(filters, ["country", "FR"]);
  assert.deepEqual(filters, [["country", "FR"]]);
  assert.deepEqual(removeFilter(filters, "country"), []);
  assert.deepEqual(describeFilter(["page", "/blog/*"]), { label: "Page", operator: "starts with", value: "/blog/" });
});
