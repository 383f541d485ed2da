// Calendar ranges of the history view (webui/js/ranges.js). tests/test_webui_js.py runs this file with
// node under TZ=Europe/Berlin and TZ=America/New_York; the cases cross both DST changes of 2026.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  PRESETS,
  addDays,
  addMonths,
  comparisonRange,
  daysBetween,
  describeRange,
  intervalFor,
  isDate,
  isDateRange,
  localDate,
  previousRange,
  rangeFor,
  stepRange,
  yearAgoRange,
} from "../../webui/js/ranges.js";

// Local wall-clock moments (read in the process's TZ), like the browser's `new Date()`.
const at = (y, m, d, hh = 12, mm = 0) => new Date(y, m - 1, d, hh, mm);

test("last 7 days ending on 2026-04-01 starts on 03-26, across the spring DST change", () => {
  for (const hour of [0, 1, 12, 23]) {
    assert.deepEqual(rangeFor("7d", { now: at(2026, 4, 1, hour, 30) }), { from: "2026-03-26", to: "2026-04-01" });
  }
});

test("the previous period of 03-30..04-05 is 03-23..03-29", () => {
  assert.deepEqual(previousRange({ from: "2026-03-30", to: "2026-04-05" }), { from: "2026-03-23", to: "2026-03-29" });
});

test("ranges across the autumn DST change keep their length in days", () => {
  assert.deepEqual(rangeFor("30d", { now: at(2026, 11, 2, 0, 5) }), { from: "2026-10-04", to: "2026-11-02" });
  assert.deepEqual(previousRange({ from: "2026-10-25", to: "2026-10-25" }), { from: "2026-10-24", to: "2026-10-24" });
  assert.equal(daysBetween("2026-10-20", "2026-10-30"), 11);
  assert.equal(daysBetween("2026-03-25", "2026-04-01"), 8);
});

test("today, yesterday, month to date, last month, year to date, last 12 months", () => {
  const now = at(2026, 3, 29, 2, 30); // the night the clocks go forward in Europe
  assert.equal(localDate(now), "2026-03-29");
  assert.deepEqual(rangeFor("today", { now }), { from: "2026-03-29", to: "2026-03-29" });
  assert.deepEqual(rangeFor("yesterday", { now }), { from: "2026-03-28", to: "2026-03-28" });
  assert.deepEqual(rangeFor("mtd", { now }), { from: "2026-03-01", to: "2026-03-29" });
  assert.deepEqual(rangeFor("lastmonth", { now }), { from: "2026-02-01", to: "2026-02-28" });
  assert.deepEqual(rangeFor("ytd", { now }), { from: "2026-01-01", to: "2026-03-29" });
  assert.deepEqual(rangeFor("12mo", { now }), { from: "2025-03-30", to: "2026-03-29" });
  assert.deepEqual(rangeFor("lastmonth", { now: at(2026, 1, 15) }), { from: "2025-12-01", to: "2025-12-31" });
});

test("the dates count from today in the site's timezone, wherever the browser is", () => {
  // 23:30 UTC on 5 December: already the 6th in Berlin, still the 5th in New York and Honolulu, whatever
  // the process's own TZ (this file runs under two).
  const now = new Date(Date.UTC(2026, 11, 5, 23, 30));
  assert.equal(localDate(now, "Europe/Berlin"), "2026-12-06");
  assert.equal(localDate(now, "America/New_York"), "2026-12-05");
  assert.equal(localDate(now, "Asia/Kolkata"), "2026-12-06");
  assert.deepEqual(rangeFor("today", { now, tz: "Europe/Berlin" }), { from: "2026-12-06", to: "2026-12-06" });
  assert.deepEqual(rangeFor("yesterday", { now, tz: "Europe/Berlin" }), { from: "2026-12-05", to: "2026-12-05" });
  assert.deepEqual(rangeFor("7d", { now, tz: "Pacific/Honolulu" }), { from: "2026-11-29", to: "2026-12-05" });
  assert.deepEqual(rangeFor("mtd", { now: new Date(Date.UTC(2026, 10, 30, 23, 30)), tz: "Europe/Berlin" }), {
    from: "2026-12-01",
    to: "2026-12-01",
  });
  // Across the spring change in the site's zone: 00:30 UTC on 29 March is 01:30 then 03:30 in Berlin.
  assert.equal(localDate(new Date(Date.UTC(2026, 2, 29, 0, 30)), "Europe/Berlin"), "2026-03-29");
  assert.equal(localDate(new Date(Date.UTC(2026, 2, 28, 22, 59)), "Europe/Berlin"), "2026-03-28");
  assert.equal(localDate(new Date(Date.UTC(2026, 2, 28, 23, 0)), "Europe/Berlin"), "2026-03-29");
});

test("last 24 hours is 24 real hours of instants", () => {
  const now = at(2026, 3, 29, 12, 0);
  const range = rangeFor("24h", { now });
  const span = Date.parse(range.to) - Date.parse(range.from);
  assert.equal(span, 86400000 + 1000);
  assert.equal(intervalFor(range), "hour");
});

test("all time starts at the site's first day, never more than 799 days back (the API takes 800 of 24 h)", () => {
  const now = at(2026, 4, 1);
  assert.deepEqual(rangeFor("all", { now, first: "2026-02-10" }), { from: "2026-02-10", to: "2026-04-01" });
  const long = rangeFor("all", { now, first: "2001-01-01" });
  assert.equal(daysBetween(long.from, long.to), 799);
  assert.equal(rangeFor("all", { now }).to, "2026-04-01");
});

test("custom ranges are validated and put in order", () => {
  assert.deepEqual(rangeFor("custom", { from: "2026-04-05", to: "2026-03-30" }), { from: "2026-03-30", to: "2026-04-05" });
  assert.deepEqual(rangeFor("custom", { from: "2026-02-30", to: "2026-03-01", now: at(2026, 4, 1) }), { from: "2026-03-26", to: "2026-04-01" });
  assert.equal(isDate("2024-02-29"), true);
  assert.equal(isDate("2026-02-29"), false);
  assert.equal(isDate("2026-4-1"), false);
});

test("stepping moves whole periods: days by days, months by months", () => {
  assert.deepEqual(stepRange({ from: "2026-03-26", to: "2026-04-01" }, -1), { from: "2026-03-19", to: "2026-03-25" });
  assert.deepEqual(stepRange({ from: "2026-03-29", to: "2026-03-29" }, 1), { from: "2026-03-30", to: "2026-03-30" });
  assert.deepEqual(stepRange({ from: "2026-02-01", to: "2026-02-28" }, 1), { from: "2026-03-01", to: "2026-03-31" });
  assert.deepEqual(stepRange({ from: "2026-03-01", to: "2026-03-31" }, -1), { from: "2026-02-01", to: "2026-02-28" });
  assert.deepEqual(stepRange({ from: "2026-03-01", to: "2026-03-17" }, -1), { from: "2026-02-01", to: "2026-02-28" });
});

test("the same period last year, and month arithmetic at month ends", () => {
  assert.deepEqual(yearAgoRange({ from: "2024-02-29", to: "2024-03-06" }), { from: "2023-02-28", to: "2023-03-06" });
  assert.equal(addMonths("2026-03-31", -1), "2026-02-28");
  assert.equal(addDays("2026-12-31", 1), "2027-01-01");
});

test("chart intervals follow the range length", () => {
  assert.equal(intervalFor({ from: "2026-03-29", to: "2026-03-30" }), "hour");
  assert.equal(intervalFor({ from: "2026-01-01", to: "2026-03-31" }), "day");
  assert.equal(intervalFor({ from: "2025-04-01", to: "2026-03-31" }), "week");
  assert.equal(intervalFor({ from: "2024-04-01", to: "2026-03-31" }), "month");
});

test("every preset gives dates in order, ending today (or yesterday), whatever the hour around both DST changes", () => {
  for (const [y, m, d] of [[2026, 3, 29], [2026, 10, 25], [2026, 12, 31], [2026, 1, 1]]) {
    for (const hour of [0, 2, 3, 23]) {
      const now = at(y, m, d, hour, 30);
      for (const [preset] of PRESETS.filter(([name]) => !["24h", "custom"].includes(name))) {
        const range = rangeFor(preset, { now });
        assert.ok(isDateRange(range), `${preset} at ${now}`);
        assert.ok(range.from <= range.to, `${preset}: ${range.from} after ${range.to}`);
        if (!["yesterday", "lastmonth"].includes(preset)) assert.equal(range.to, localDate(now), preset);
        if (preset === "yesterday") assert.equal(range.to, addDays(localDate(now), -1));
      }
    }
  }
});

test("stepping the last 24 hours moves by 24 real hours, across the night the clocks change", () => {
  const range = rangeFor("24h", { now: at(2026, 10, 25, 12, 0) });
  const back = stepRange(range, -1);
  assert.equal(Date.parse(range.from) - Date.parse(back.from), 86400000 + 1000);
  assert.deepEqual(stepRange(back, 1), range);
  assert.equal(isDateRange(back), false);
});

test("stepping a week that holds a DST change keeps whole calendar days", () => {
  assert.deepEqual(stepRange({ from: "2026-10-19", to: "2026-10-25" }, 1), { from: "2026-10-26", to: "2026-11-01" });
  assert.deepEqual(stepRange({ from: "2026-03-30", to: "2026-04-05" }, -1), { from: "2026-03-23", to: "2026-03-29" });
  assert.deepEqual(stepRange({ from: "2025-01-01", to: "2025-12-31" }, 1), { from: "2026-01-01", to: "2026-12-31" });
});

test("the compared period: previous, a year ago, or none", () => {
  const range = { from: "2026-03-30", to: "2026-04-05" };
  assert.deepEqual(comparisonRange(range, "previous"), previousRange(range));
  assert.deepEqual(comparisonRange(range, "year"), { from: "2025-03-30", to: "2025-04-05" });
  assert.equal(comparisonRange(range, ""), null);
  const day = rangeFor("24h", { now: at(2026, 3, 29, 12, 0) });
  const before = comparisonRange(day, "previous");
  assert.equal(before.to, day.from);
});

test("ranges read as dates in the reader's language, the same in every timezone", () => {
  assert.equal(describeRange({ from: "2026-03-26", to: "2026-04-01" }, "en-US"), "Mar 26, 2026 – Apr 1, 2026");
  assert.equal(describeRange({ from: "2026-10-25", to: "2026-10-25" }, "en-US"), "Oct 25, 2026");
  assert.equal(describeRange(rangeFor("24h", { now: at(2026, 3, 29) }), "en-US"), "Last 24 hours");
});
