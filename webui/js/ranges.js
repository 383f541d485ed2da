// Date ranges of the history view as calendar arithmetic on local dates (YYYY-MM-DD), never as steps of
// 24 hours: a day that holds a daylight-saving change is 23 or 25 hours long, and stepping in 24-hour
// units lands on the wrong date around it. Only "today" (and "now" for the last 24 hours) read the clock
// in the browser's timezone; everything else is arithmetic on year, month and day, done in UTC so that
// no timezone can shift it. No DOM here: node's test runner imports this module as it is.

export const PRESETS = [
  ["today", "Today"],
  ["yesterday", "Yesterday"],
  ["24h", "Last 24 hours"],
  ["7d", "Last 7 days"],
  ["30d", "Last 30 days"],
  ["90d", "Last 90 days"],
  ["mtd", "Month to date"],
  ["lastmonth", "Last month"],
  ["12mo", "Last 12 months"],
  ["ytd", "Year to date"],
  ["all", "All time"],
  ["custom", "Custom range"],
];
export const PRESET_NAMES = new Set(PRESETS.map(([name]) => name));
// The longest range asked for: one day under the stats API's limit (domain/stats/query.py
// MAX_RANGE_DAYS, 800 days of 24 hours), as a range of local days that crosses a daylight-saving change
// in the site's timezone is an hour longer.
export const MAX_DAYS = 799;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86400000;

/** Whether `text` is a real calendar date written YYYY-MM-DD. */
export function isDate(text) {
  const found = DATE.exec(String(text ?? ""));
  if (!found) return false;
  const [y, m, d] = found.slice(1).map(Number);
  const back = new Date(Date.UTC(y, m - 1, d));
  return back.getUTCFullYear() === y && back.getUTCMonth() === m - 1 && back.getUTCDate() === d;
}

function parts(text) {
  const [y, m, d] = text.split("-").map(Number);
  return { y, m, d };
}

function format(y, m, d) {
  // Date.UTC normalises overflow (day 0, month 13) the calendar way.
  const date = new Date(Date.UTC(y, m - 1, d));
  const yy = String(date.getUTCFullYear()).padStart(4, "0");
  const mm = String(date.getUTCMonth() + 1).padStart(2, "0");
  const dd = String(date.getUTCDate()).padStart(2, "0");
  return `${yy}-${mm}-${dd}`;
}

/** The calendar date of a Date in the IANA timezone `tz` (the site's: its "today" is what the stats
 *  API counts, wherever the viewer sits), or in the browser's timezone without one. */
export function localDate(date, tz) {
  if (!tz) return format(date.getFullYear(), date.getMonth() + 1, date.getDate());
  const fields = {};
  for (const { type, value } of dateParts(tz).formatToParts(date)) fields[type] = value;
  return format(Number(fields.year), Number(fields.month), Number(fields.day));
}

const partsByZone = new Map();
function dateParts(tz) {
  if (!partsByZone.has(tz)) {
    partsByZone.set(tz, new Intl.DateTimeFormat("en-US", { timeZone: tz, year: "numeric", month: "numeric", day: "numeric" }));
  }
  return partsByZone.get(tz);
}

/** `text` moved by `n` calendar days. */
export function addDays(text, n) {
  const { y, m, d } = parts(text);
  return format(y, m, d + n);
}

/** `text` moved by `n` calendar months, the day clamped to the month's end (Mar 31 - 1 month = Feb 28). */
export function addMonths(text, n) {
  const { y, m, d } = parts(text);
  const last = lastOfMonth(format(y, m + n, 1));
  return format(y, m + n, Math.min(d, parts(last).d));
}

function firstOfMonth(text) {
  const { y, m } = parts(text);
  return format(y, m, 1);
}

function lastOfMonth(text) {
  const { y, m } = parts(text);
  return format(y, m + 1, 0);
}

/** Calendar days from `a` to `b` inclusive (a == b is 1). */
export function daysBetween(a, b) {
  const pa = parts(a);
  const pb = parts(b);
  return Math.round((Date.UTC(pb.y, pb.m - 1, pb.d) - Date.UTC(pa.y, pa.m - 1, pa.d)) / DAY_MS) + 1;
}

/** The range of a preset: {from, to} as inclusive local dates, or, for "24h", ISO instants
 *  ({from, to} with `to` exclusive, as the API reads timestamps). Dates count from today in `tz`
 *  (the site's timezone; the browser's without one). `first` is the earliest date "all" reaches back
 *  to (the site's creation), clamped to MAX_DAYS. */
export function rangeFor(preset, { from, to, now = new Date(), first = null, tz = null } = {}) {
  const today = localDate(now, tz);
  switch (preset) {
    case "custom":
      if (isDate(from) && isDate(to)) return from <= to ? { from, to } : { from: to, to: from };
      return { from: addDays(today, -6), to: today };
    case "today":
      return { from: today, to: today };
    case "yesterday":
      return { from: addDays(today, -1), to: addDays(today, -1) };
    case "24h":
      return { from: new Date(now.getTime() - DAY_MS).toISOString(), to: new Date(now.getTime() + 1000).toISOString() };
    case "30d":
      return { from: addDays(today, -29), to: today };
    case "90d":
      return { from: addDays(today, -89), to: today };
    case "mtd":
      return { from: firstOfMonth(today), to: today };
    case "lastmonth": {
      const start = firstOfMonth(addMonths(firstOfMonth(today), -1));
      return { from: start, to: lastOfMonth(start) };
    }
    case "12mo":
      return { from: addDays(addMonths(today, -12), 1), to: today };
    case "ytd":
      return { from: `${today.slice(0, 4)}-01-01`, to: today };
    case "all": {
      const earliest = addDays(today, -(MAX_DAYS - 1));
      const start = isDate(first) && first > earliest ? (first <= today ? first : today) : earliest;
      return { from: start, to: today };
    }
    default:
      return { from: addDays(today, -6), to: today };
  }
}

/** Whether a range is made of dates (not the instants of "last 24 hours"). */
export function isDateRange(range) {
  return isDate(range.from) && isDate(range.to);
}

/** Whether a date range covers whole calendar months (the 1st to a month's last day). */
function wholeMonths(range) {
  return parts(range.from).d === 1 && lastOfMonth(range.to) === range.to;
}

function monthsIn(range) {
  const a = parts(range.from);
  const b = parts(range.to);
  return (b.y - a.y) * 12 + (b.m - a.m) + 1;
}

/** The period of the same length just before `range` (same number of days; for instants, the same
 *  span of time). */
export function previousRange(range) {
  if (!isDateRange(range)) {
    const from = Date.parse(range.from);
    const to = Date.parse(range.to);
    return { from: new Date(from - (to - from)).toISOString(), to: new Date(from).toISOString() };
  }
  const days = daysBetween(range.from, range.to);
  return { from: addDays(range.from, -days), to: addDays(range.from, -1) };
}

/** The same dates one year earlier (Feb 29 becomes Feb 28). */
export function yearAgoRange(range) {
  if (!isDateRange(range)) {
    const shift = (text) => {
      const date = new Date(Date.parse(text));
      date.setUTCFullYear(date.getUTCFullYear() - 1);
      return date.toISOString();
    };
    return { from: shift(range.from), to: shift(range.to) };
  }
  return { from: addMonths(range.from, -12), to: addMonths(range.to, -12) };
}

/** The range compared with `range`: "previous" or "year" (anything else: none). */
export function comparisonRange(range, mode) {
  if (mode === "previous") return previousRange(range);
  if (mode === "year") return yearAgoRange(range);
  return null;
}

/** `range` moved one period back (`direction` -1) or forward (+1): whole months step by their number
 *  of months, everything else by its number of days. Instants step by their span. */
export function stepRange(range, direction) {
  if (!isDateRange(range)) {
    const from = Date.parse(range.from);
    const to = Date.parse(range.to);
    const span = (to - from) * direction;
    return { from: new Date(from + span).toISOString(), to: new Date(to + span).toISOString() };
  }
  // A month so far (month to date) steps to whole months too.
  const a = parts(range.from);
  const b = parts(range.to);
  if (a.d === 1 && a.y === b.y && a.m === b.m && !wholeMonths(range)) {
    const from = addMonths(range.from, direction);
    return { from, to: lastOfMonth(from) };
  }
  if (wholeMonths(range)) {
    const n = monthsIn(range) * direction;
    const from = addMonths(range.from, n);
    return { from, to: lastOfMonth(addMonths(firstOfMonth(range.to), n)) };
  }
  const days = daysBetween(range.from, range.to) * direction;
  return { from: addDays(range.from, days), to: addDays(range.to, days) };
}

/** The chart's bucket size for a range: hours up to two days, days up to ~4 months, then weeks, and
 *  months beyond a year. */
export function intervalFor(range) {
  if (!isDateRange(range)) return "hour";
  const days = daysBetween(range.from, range.to);
  if (days <= 2) return "hour";
  if (days <= 120) return "day";
  if (days <= 400) return "week";
  return "month";
}

/** A short description of a range for headings and the compare note ("Mar 26 – Apr 1, 2026"). */
export function describeRange(range, locale) {
  if (!isDateRange(range)) return "Last 24 hours";
  const asDate = (text) => {
    const { y, m, d } = parts(text);
    return new Date(Date.UTC(y, m - 1, d));
  };
  const long = new Intl.DateTimeFormat(locale, { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
  if (range.from === range.to) return long.format(asDate(range.from));
  return `${long.format(asDate(range.from))} – ${long.format(asDate(range.to))}`;
}
