// The sites list and the add-a-site form (the edit form is the same one, on the site's settings tab).

import { get, post, items, qs } from "../api.js";
import { h, field, replace, loading, empty, errorBox, fmtTime, fmtNumber, onSubmit } from "../dom.js";
import { sparkline } from "./charts.js";
import { rangeFor } from "../ranges.js";

// Sites whose 24-hour numbers the list loads (the rest show their links only).
const MAX_SITE_NUMBERS = 30;

function timezones() {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return ["UTC"];
  }
}

/** Goals as typed in the settings, one a line: a path (starting with /, a trailing * for a prefix) is a
 *  page goal, anything else an event name; "Name = /pricing" gives a goal its own name. */
export function parseGoals(text) {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const at = line.lastIndexOf(" = ");
      const name = at > 0 ? line.slice(0, at).trim() : "";
      const match = at > 0 ? line.slice(at + 3).trim() : line;
      const goal = match.startsWith("/") ? { page: match } : { event: match };
      return name ? { ...goal, name } : goal;
    });
}

/** Goals as the settings show them (the inverse of parseGoals). */
export function goalsText(goals) {
  return (goals || []).map((goal) => `${goal.name ? `${goal.name} = ` : ""}${goal.page ?? goal.event}`).join("\n");
}

/** The settings only an existing site has: goals, currency, and taking Plausible's or Umami's trackers. */
function siteExtras(site) {
  const goals = h("textarea", { name: "goals", rows: 4, placeholder: "/pricing\nSignup\nRead the blog = /blog/*" });
  goals.value = goalsText(site.goals);
  const currency = h("input", { type: "text", name: "currency", maxlength: 3, placeholder: "EUR", autocomplete: "off", class: "short" });
  currency.value = site.currency || "";
  const plausible = h("input", { type: "checkbox", name: "compat_plausible", checked: Boolean(site.compat?.plausible) });
  const umami = h("input", { type: "checkbox", name: "compat_umami", checked: Boolean(site.compat?.umami) });
  const alias = h("input", { type: "text", name: "umami_alias", maxlength: 36, placeholder: "the data-website-id of your Umami snippet", autocomplete: "off" });
  alias.value = site.umami_alias || "";
  const fields = [
    field("Goals", goals, "One a line: a page (starting with /, a trailing * for every page under it) or an event name. Give a goal a name with \"Name = /page\"."),
    field("Currency", currency, "Revenue in this currency is summed into one total; other currencies are shown on their own."),
    h(
      "fieldset",
      { class: "compat" },
      h("legend", { text: "Other trackers" }),
      h("label", { class: "check" }, plausible, h("span", { text: "Take events from Plausible's tracker and Events API (matched by the domain)" })),
      h("label", { class: "check" }, umami, h("span", { text: "Take events from Umami's tracker (matched by this site's id, or by the id below)" })),
      field("Umami website id", alias, "Keep an existing Umami snippet as it is: its data-website-id."),
    ),
  ];
  const read = () => ({
    goals: parseGoals(goals.value),
    currency: currency.value.trim().toUpperCase() || null,
    compat: { plausible: plausible.checked, umami: umami.checked },
    umami_alias: alias.value.trim() || null,
  });
  return { fields, read };
}

/** The site form: name, domain, allowed origins (one a line), timezone; for an existing site also goals,
 *  currency and other trackers. `onSave(body)` may throw ApiError. */
export function siteForm(site, submitLabel, onSave) {
  const name = h("input", { type: "text", name: "name", required: true, maxlength: 100, autocomplete: "off" });
  const domain = h("input", { type: "text", name: "domain", required: true, maxlength: 253, placeholder: "example.com", autocomplete: "off" });
  const origins = h("textarea", { name: "allowed_origins", rows: 3, placeholder: "https://example.com" });
  const zone = h("select", { name: "timezone" });
  const current = site?.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const zones = timezones();
  if (!zones.includes("UTC")) zones.unshift("UTC");
  for (const tz of zones) zone.append(h("option", { value: tz, text: tz, selected: tz === current }));
  name.value = site?.name || "";
  domain.value = site?.domain || "";
  origins.value = (site?.allowed_origins || []).join("\n");
  const submit = h("button", { type: "submit", text: submitLabel });
  const extras = site?.id ? siteExtras(site) : null;
  const form = h(
    "form",
    { class: "card site-form", novalidate: true },
    field("Name", name),
    field("Domain", domain, "The site's host name, without https://."),
    field("Allowed origins", origins, "Pages on these origins may send events with the public key. One a line; empty means the domain itself, over http or https."),
    field("Timezone", zone, "Days and hours in reports follow this timezone."),
    extras?.fields,
    h("div", { class: "actions" }, submit),
  );
  onSubmit(form, submit, async () => {
    const body = {
      name: name.value.trim(),
      domain: domain.value.trim(),
      timezone: zone.value,
    };
    const list = origins.value.split(/\s+/).map((o) => o.trim()).filter(Boolean);
    if (list.length || site) body.allowed_origins = list;
    if (extras) Object.assign(body, extras.read());
    await onSave(body);
  });
  return { form, focus: () => name.focus() };
}

/** Visitors of the last 24 hours and their hourly sparkline, filled into a site card's `box`. */
async function siteNumbers(site, box, sparks) {
  const base = `/api/v1/sites/${encodeURIComponent(site.id)}/stats`;
  const range = rangeFor("24h");
  const count = h("strong", { class: "site-visitors", text: "…" });
  const spark = h("div", { class: "spark site-spark", "aria-hidden": "true" });
  replace(box, h("p", { class: "site-numbers" }, count, h("span", { class: "muted", text: " visitors in 24 h" })), spark);
  try {
    const [summary, series] = await Promise.all([
      get(`${base}/summary${qs(range)}`),
      get(`${base}/timeseries${qs({ ...range, interval: "hour", metrics: "visitors" })}`),
    ]);
    count.textContent = fmtNumber(summary?.results?.visitors?.value ?? 0);
    const points = series?.results || [];
    const chart = sparkline(spark);
    sparks.push(chart);
    chart.update(
      points.map((p) => Date.parse(p.date) / 1000),
      points.map((p) => p.visitors || 0),
    );
  } catch {
    replace(box, h("p", { class: "muted small", text: "Numbers unavailable right now." }));
  }
}

function siteCard(site, numbers) {
  return h(
    "li",
    { class: "site-card card", "data-site": site.id },
    h("h2", {}, h("a", { href: `/sites/${encodeURIComponent(site.id)}`, "data-route": true, text: site.name || site.domain })),
    h("p", { class: "muted" }, site.domain || "", site.role && site.role !== "owner" ? [" ", h("span", { class: "badge", text: site.role })] : null),
    h(
      "p",
      { class: "site-links" },
      h("a", { href: `/sites/${encodeURIComponent(site.id)}`, "data-route": true, text: "Dashboard" }),
      site.role === "viewer" ? null : h("a", { href: `/sites/${encodeURIComponent(site.id)}/settings`, "data-route": true, text: "Edit" }),
      h("a", { href: `/sites/${encodeURIComponent(site.id)}/snippet`, "data-route": true, text: "Snippet" }),
    ),
    numbers,
    site.created_at ? h("p", { class: "muted small", text: `Added ${fmtTime(site.created_at)}` }) : null,
  );
}

export async function render(main, params, { navigate }) {
  if (params.page === "new") {
    const { form, focus } = siteForm(null, "Add site", async (body) => {
      const answer = await post("/api/v1/sites", body);
      const site = answer.site || answer;
      navigate(`/sites/${encodeURIComponent(site.id)}/keys`);
    });
    replace(main, h("h1", { text: "Add a site" }), form);
    focus();
    return;
  }
  replace(main, h("div", { class: "page-head" }, h("h1", { text: "Your sites" })), loading());
  let sites;
  try {
    sites = items(await get("/api/v1/sites"), "sites");
  } catch (error) {
    replace(main, h("h1", { text: "Your sites" }), errorBox(error));
    return;
  }
  const add = h("a", { class: "button", href: "/sites/new", "data-route": true, text: "Add a site" });
  const sparks = [];
  const boxes = sites.map((site, i) => (i < MAX_SITE_NUMBERS ? h("div", { class: "site-numbers-box" }) : null));
  replace(
    main,
    h("div", { class: "page-head" }, h("h1", { text: "Your sites" }), add),
    sites.length
      ? h("ul", { class: "site-list" }, sites.map((site, i) => siteCard(site, boxes[i])))
      : empty("No sites yet. Add your first site to get a tracking snippet."),
  );
  sites.forEach((site, i) => boxes[i] && siteNumbers(site, boxes[i], sparks));
  return () => {
    for (const chart of sparks) chart.destroy();
  };
}
