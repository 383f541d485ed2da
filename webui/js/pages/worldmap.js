// The Locations card's world map: countries shaded by visitors (six steps, from the vendored outlines in
// vendor/world-map.js: no network at run time), each with its name and number on hover, a click on a
// country with visitors filtering the view by it. The table beside it stays the way to reach every row by
// keyboard; the map is a picture of the same numbers.

import { countryName, fmtNumber } from "../dom.js";

const SVG = "http://www.w3.org/2000/svg";
let outlines = null;

function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== null && value !== undefined) el.setAttribute(name, String(value));
  return el;
}

/** The shade step (0 none, 1..5) of `visitors` against the busiest country's `most`. */
export function shade(visitors, most) {
  if (!visitors || !most) return 0;
  return Math.min(5, 1 + Math.floor((4 * Math.log1p(visitors)) / Math.log1p(most)));
}

/** An SVG map of `rows` ({value: ISO code, visitors}); `onFilter([key, op, values])` on a click. */
export async function worldMap(rows, onFilter) {
  outlines ||= (await import("../../vendor/world-map.js")).default;
  const visitors = new Map(rows.filter((row) => row.value).map((row) => [String(row.value).toUpperCase(), row.visitors || 0]));
  const most = Math.max(0, ...visitors.values());
  const map = svg("svg", { viewBox: outlines.viewBox, class: "world-map", role: "img", "aria-label": `World map of visitors by country (${visitors.size} countries)`, "data-testid": "world-map" });
  for (const [code, path] of Object.entries(outlines.countries)) {
    const count = visitors.get(code) || 0;
    const country = svg("path", { d: path, class: `land map-${shade(count, most)}`, "data-country": code, "data-visitors": count });
    const name = countryName(code);
    const title = svg("title");
    title.textContent = count ? `${name}: ${fmtNumber(count)} visitor${count === 1 ? "" : "s"}` : name;
    country.append(title);
    if (count) country.addEventListener("click", () => onFilter(["country", "==", [code]]));
    map.append(country);
  }
  return map;
}
