// One site: a header with tabs (dashboard, keys, metrics, snippet, members, share link, imports, settings) and
// the tab's content. The dashboard tab holds the live panel and the history view.

import { get, patch, del, qs, freshAccessToken, refresh, download } from "../api.js";
import { h, replace, loading, errorBox, flash } from "../dom.js";
import { siteForm } from "./sites.js";
import { livePanel } from "./live.js";
import { historyView } from "./history.js";

// [path, label, lowest role that may use it] (the API enforces the same rules; hiding avoids dead ends).
const TABS = [
  ["", "Dashboard", "viewer"],
  ["keys", "Keys", "admin"],
  ["snippet", "Snippet", "viewer"],
  ["metrics", "Metrics", "admin"],
  ["members", "Team", "admin"],
  ["share", "Share", "admin"],
  ["imports", "Imports", "admin"],
  ["settings", "Settings", "admin"],
];
// The tabs a page module of its own renders (`render(body, site)`), loaded when first opened.
const TAB_MODULES = {
  keys: "./keys.js",
  snippet: "./snippet.js",
  metrics: "./metrics.js",
  members: "./team.js",
  share: "./share.js",
  imports: "./imports.js",
};
const RANK = { viewer: 1, admin: 2, owner: 3 };

/** The data source of a signed-in user's dashboard: bearer-authenticated stats and /ws/live; `timezone`
 *  is the site's, in which the ranges' dates count. */
export function userSource(siteId, timezone) {
  const base = `/api/v1/sites/${encodeURIComponent(siteId)}`;
  return {
    timezone,
    stats: (kind, params) => get(`${base}/stats/${kind}${qs(params)}`),
    // raw events of a range as a file (share links have no export: they show aggregates only)
    exportRange: (format, range) => download(`${base}/export${qs({ format, ...range })}`),
    liveUrl: `/ws/live?site_id=${encodeURIComponent(siteId)}`,
    // `force` after the server refused the token (4401): get a new one before reconnecting.
    liveAuth: async (force) => {
      if (force) await refresh();
      const token = await freshAccessToken();
      return token ? { token } : null;
    },
    renewAuth: async () => {
      await refresh();
      const token = await freshAccessToken();
      return token ? { token } : null;
    },
  };
}

/** Mount the dashboard (live + history) for a source; returns cleanup. */
export function dashboard(container, source) {
  // Three boxes: the live numbers, the history, the live lists and tail. On a wide screen they show in
  // that order with the live parts together; on a phone the history's numbers and chart come second
  // and the live lists last (CSS order), so the first screen holds numbers and the chart.
  const liveBox = h("div", { class: "live-box" });
  const liveMoreBox = h("div", { class: "live-more-box" });
  const historyBox = h("div", { class: "history-box" });
  replace(container, h("div", { class: "dashboard" }, liveBox, liveMoreBox, historyBox));
  const stopLive = livePanel(liveBox, source, liveMoreBox);
  const history = historyView(historyBox, source);
  return () => {
    stopLive();
    history.destroy();
  };
}

function settingsTab(body, site, navigate) {
  const { form } = siteForm(site, "Save changes", async (changes) => {
    const answer = await patch(`/api/v1/sites/${encodeURIComponent(site.id)}`, changes);
    Object.assign(site, answer.site || answer);
    flash("Site saved.", "ok");
    navigate(`/sites/${encodeURIComponent(site.id)}/settings`, { replace: true });
  });
  const remove = h("button", { type: "button", class: "danger", text: "Delete this site" });
  remove.addEventListener("click", async () => {
    if (!window.confirm(`Delete ${site.name}? Its keys stop working and its data is removed.`)) return;
    try {
      await del(`/api/v1/sites/${encodeURIComponent(site.id)}`);
      flash("Site deleted.", "ok");
      navigate("/sites");
    } catch (error) {
      replace(danger, h("h2", { text: "Danger zone" }), errorBox(error), remove);
    }
  });
  const danger = h("section", { class: "card danger-zone" }, h("h2", { text: "Danger zone" }), remove);
  const isOwner = !site.role || site.role === "owner";
  replace(body, h("h2", { text: "Settings" }), form, isOwner ? danger : null);
}

export async function render(main, params, { navigate }) {
  const siteId = params.siteId;
  const tab = params.tab || "";
  replace(main, loading());
  let site;
  try {
    const answer = await get(`/api/v1/sites/${encodeURIComponent(siteId)}`);
    site = answer.site || answer;
  } catch (error) {
    replace(main, h("h1", { text: "Site" }), errorBox(error), h("p", {}, h("a", { href: "/sites", "data-route": true, text: "Back to your sites" })));
    return;
  }
  const base = `/sites/${encodeURIComponent(site.id)}`;
  const tabs = h(
    "nav",
    { class: "tabs", "aria-label": "Site sections" },
    TABS.filter(([, , need]) => (RANK[site.role] || RANK.owner) >= RANK[need]).map(([key, label]) =>
      h("a", { href: key ? `${base}/${key}` : base, "data-route": true, "aria-current": key === tab || (key === "" && tab === "live") ? "page" : null, text: label }),
    ),
  );
  const body = h("div", { class: "tab-body" });
  replace(
    main,
    h("div", { class: "site-head" }, h("h1", { text: site.name || site.domain }), h("span", { class: "muted", text: site.domain || "" })),
    tabs,
    body,
  );
  switch (tab) {
    case "":
    case "live":
    case "history": {
      const stop = dashboard(body, userSource(site.id, site.timezone));
      // A site that has received nothing lately gets its installation check above the dashboard.
      import("./install.js")
        .then((module) => module.emptyDashboardCheck(site.id))
        .then((card) => card && body.isConnected && body.prepend(card));
      return stop;
    }
    case "settings":
      return settingsTab(body, site, navigate);
    default:
      return Object.hasOwn(TAB_MODULES, tab) ? (await import(TAB_MODULES[tab])).render(body, site) : undefined;
  }
}
