// The goals card of the history view: each of the site's goals (an event name or a page pattern, set in
// the site's settings) with its converting visitors, conversions, conversion rate and revenue, summed per
// currency (amounts in other currencies stay on their own: no exchange rates), for the view's range and
// filters (stats/goals).

import { h, replace, loading, empty, errorBox, fmtNumber, fmtPercent, table } from "../dom.js";
import { afterViewPaint } from "./breakdowns.js";

/** A revenue sum (exact decimal text from the API) in its currency, as the browser writes money. */
export function fmtMoney(sum, currency) {
  const value = Number(sum);
  if (!Number.isFinite(value)) return `${sum} ${currency}`;
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(value);
  } catch {
    return `${fmtNumber(value)} ${currency}`;
  }
}

/** Revenue per currency, the site's currency first: "€30.10 · $5.00", or "—" for none. */
function revenueText(revenue, siteCurrency) {
  const codes = Object.keys(revenue || {}).sort((a, b) => (b === siteCurrency) - (a === siteCurrency) || a.localeCompare(b));
  return codes.length ? codes.map((code) => fmtMoney(revenue[code].sum, code)).join(" · ") : "—";
}

/** The goals card; `getQuery()` gives the range and filters. Returns {card, load, destroy}. */
export function goalsCard(source, getQuery) {
  const body = h("div", { class: "goals-body" });
  const card = h("section", { class: "card breakdown goals", "data-breakdown": "goals" }, h("div", { class: "section-head" }, h("h3", { text: "Goals" })), body);
  let seq = 0;
  // Goals are asked once the view's numbers have painted (a site without goals costs them nothing).
  async function load() {
    const mine = ++seq;
    replace(body, loading());
    const query = getQuery();
    afterViewPaint(card).then(() => mine === seq && show(mine, query));
  }
  async function show(mine, query) {
    try {
      const answer = await source.stats("goals", query);
      if (mine !== seq) return;
      const goals = answer?.goals || [];
      if (!goals.length) {
        replace(body, empty("No goals yet. An admin of the site adds them in Settings: a page like /pricing or an event like Signup."));
        return;
      }
      const columns = [
        { label: "Goal", value: (goal) => h("span", { title: goal.kind === "page" ? `Visits to ${goal.match}` : `Events named ${goal.match}`, text: goal.goal }) },
        { label: "Visitors", numeric: true, value: (goal) => fmtNumber(goal.visitors) },
        { label: "Conversions", numeric: true, value: (goal) => fmtNumber(goal.conversions) },
        { label: "Conversion rate", numeric: true, value: (goal) => fmtPercent(goal.conversion_rate) },
        { label: "Revenue", numeric: true, value: (goal) => h("span", { class: "revenue", text: revenueText(goal.revenue, answer.currency) }) },
      ];
      replace(body, table(columns, goals, "Goals: conversions and revenue"));
    } catch (error) {
      if (mine === seq) replace(body, errorBox(error));
    }
  }
  return {
    card,
    load,
    destroy() {
      seq++;
    },
  };
}
