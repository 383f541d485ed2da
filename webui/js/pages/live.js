// The live panel: one websocket to /ws/live (the token goes in the first message, never in the URL), a
// snapshot then ticks; visitors now, an events-per-second sparkline, top pages/sources/countries now and a
// filterable tail of recent events. Reconnects with backoff; the socket closes when the page is left.

import { h, replace, fmtNumber, shortPath, fmtTime, countryName } from "../dom.js";
import { FILTER_LABELS } from "../viewstate.js";
import { sparkline } from "./charts.js";

const TAIL_MAX = 100;
const SPARK_POINTS = 120;
// Close codes of /ws/live (handlers/live.py): 4401 bad or expired token (refresh, then reconnect once),
// 4403/4404 no access to this site (stop), 4400 a bad message (stop); 4408 too slow and 4429 too many
// connections reconnect with backoff, like a dropped network.
const CLOSE_UNAUTHORIZED = 4401;
const FINAL_CLOSE_CODES = new Set([4400, 4403, 4404]);
const RENEW_EVERY_MS = 10 * 60 * 1000; // access tokens last 15 minutes
const FILTER_DEBOUNCE_MS = 300;

/** Normalise a "top" list from the server: [[name, n]], [{value|page|source|country|name, count|...}] or {name: n}. */
export function topPairs(list) {
  if (!list) return [];
  if (!Array.isArray(list)) return Object.entries(list).map(([k, v]) => [k, Number(v) || 0]);
  return list.map((item) => {
    if (Array.isArray(item)) return [String(item[0] ?? ""), Number(item[1]) || 0];
    if (item && typeof item === "object") {
      const name = item.value ?? item.page ?? item.path ?? item.source ?? item.country ?? item.name ?? item.key ?? "";
      const count = item.count ?? item.visitors ?? item.events ?? item.n ?? item.value_count ?? 0;
      return [String(name), Number(count) || 0];
    }
    return [String(item), 0];
  });
}

function topList(title, pairs, format = (v) => v, none = "(none)") {
  const max = Math.max(1, ...pairs.map((p) => p[1]));
  return h(
    "section",
    { class: "card top-list" },
    h("h3", { text: title }),
    h(
      "ol",
      {},
      pairs.slice(0, 8).map(([name, count]) => {
        const bar = h("span", { class: "bar" });
        bar.style.width = `${Math.round((count / max) * 100)}%`;
        return h("li", {}, bar, h("span", { class: "label", title: name, text: format(name) || none }), h("span", { class: "num", text: fmtNumber(count) }));
      }),
    ),
  );
}

function propsText(props) {
  if (!props || typeof props !== "object") return "";
  return Object.entries(props)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" · ");
}

function eventTime(event) {
  const ts = event.ts ?? event.time ?? event.received_at;
  if (typeof ts === "number") {
    const ms = ts < 1e12 ? ts * 1000 : ts;
    return new Date(ms).toLocaleTimeString();
  }
  return ts ? fmtTime(ts) : "";
}

function eventPath(event) {
  return String(event.path || shortPath(event.url || event.page || "") || "");
}

function eventKey(event) {
  return event.id ?? `${event.ts}|${event.name}|${event.url}|${event.visitor ?? ""}`;
}

/** Mount the live panel into `container` for a data `source` ({liveUrl, liveAuth()}); returns cleanup. */
export function livePanel(container, source, moreContainer = null) {
  let socket = null;
  let closed = false;
  let retry = 0;
  let retryTimer = null;
  let authRetried = false;
  let admitted = false;
  let renewTimer = null;
  const series = { x: [], y: [] };
  const tail = [];
  const seen = new Set();
  let state = { visitors_now: null, events_per_s: null, top_pages: [], top_sources: [], top_countries: [] };

  const status = h("span", { class: "live-status connecting", role: "status", text: "Connecting…" });
  const visitors = h("strong", { class: "big-number", "data-testid": "visitors-now", text: "–" });
  const rate = h("strong", { class: "big-number", "data-testid": "events-per-s", text: "–" });
  const sparkBox = h("div", { class: "spark", "aria-hidden": "true" });
  const tops = h("div", { class: "top-grid" });
  const nameFilter = h("input", { type: "search", name: "tail_name", placeholder: "pageview", autocomplete: "off" });
  const pageFilter = h("input", { type: "search", name: "tail_page", placeholder: "/blog", autocomplete: "off" });
  const countryFilter = h("input", { type: "search", name: "tail_country", placeholder: "US", maxlength: 2, autocomplete: "off" });
  // Not an aria-live region: it changes with every tick, which would drown a screen reader.
  const tailList = h("ol", { class: "tail", "aria-label": "Recent events, newest first", "data-testid": "live-tail" });
  const filterForm = h(
    "form",
    { class: "tail-filters", role: "search", "aria-label": "Filter the live events" },
    h("label", {}, h("span", { text: FILTER_LABELS.event }), nameFilter),
    h("label", {}, h("span", { text: `${FILTER_LABELS.page} starts with` }), pageFilter),
    h("label", {}, h("span", { text: FILTER_LABELS.country }), countryFilter),
  );
  filterForm.addEventListener("submit", (e) => e.preventDefault());
  let filterTimer = null;
  filterForm.addEventListener("input", () => {
    renderTail();
    // The server filters the tail too (and answers with a fresh snapshot), so the filtered tail is
    // filled from its recent window rather than only from what this page already holds.
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => sendJson({ filter: currentFilter() }), FILTER_DEBOUNCE_MS);
  });

  // The tail folds away (closed at first on a phone, where the numbers and the chart come first).
  const tailCount = h("span", { class: "muted small tail-count" });
  const tailCard = h(
    "details",
    { class: "card tail-card", open: !window.matchMedia?.("(max-width: 600px)").matches },
    h("summary", {}, h("h3", { text: "Live events" }), tailCount),
    filterForm,
    tailList,
  );
  const panel = h(
    "section",
    { class: "live-panel", "aria-labelledby": "live-title" },
    h("div", { class: "section-head" }, h("h2", { id: "live-title", text: "Live" }), status),
    h(
      "div",
      { class: "live-stats" },
      h("div", { class: "card stat" }, h("span", { class: "stat-label", text: "Visitors now" }), visitors, h("small", { class: "muted", text: "last 5 minutes" })),
      h("div", { class: "card stat spark-card" }, h("span", { class: "stat-label", text: "Events / s" }), rate, sparkBox),
    ),
  );
  const more = h("div", { class: "live-more" }, tops, tailCard);
  // `moreContainer` (optional) takes the top lists and the tail, so a layout can put them elsewhere.
  if (moreContainer) {
    replace(container, panel);
    replace(moreContainer, more);
  } else replace(container, panel, more);
  const spark = sparkline(sparkBox);

  function setStatus(kind, text) {
    status.className = `live-status ${kind}`;
    status.textContent = text;
  }

  // The tail's filters use the history's names (`event`, `page` with a trailing * for a prefix,
  // `country`), as the server takes them.
  function currentFilter() {
    const filter = {};
    const page = pageFilter.value.trim();
    if (nameFilter.value.trim()) filter.event = nameFilter.value.trim();
    if (page) filter.page = page.endsWith("*") ? page : `${page}*`;
    if (countryFilter.value.trim()) filter.country = countryFilter.value.trim().toUpperCase();
    return filter;
  }

  function sendJson(message) {
    if (socket && socket.readyState === WebSocket.OPEN && admitted) socket.send(JSON.stringify(message));
  }

  // The same test as the server's (domain/live/stream.py Filters.matches).
  function matches(event) {
    const filter = currentFilter();
    if (filter.event && event.name !== filter.event) return false;
    if (filter.page && !String(event.path ?? eventPath(event)).startsWith(filter.page.slice(0, -1))) return false;
    if (filter.country && String(event.country || "").toUpperCase() !== filter.country) return false;
    return true;
  }

  function renderTail() {
    const shown = tail.filter(matches);
    tailCount.textContent = tail.length ? `${shown.length} shown` : "waiting";
    if (!shown.length) {
      replace(tailList, h("li", { class: "empty", text: tail.length ? "No live events match these filters." : "Waiting for events… Open a page that carries the snippet." }));
      return;
    }
    replace(
      tailList,
      shown.map((event) => {
        const props = propsText(event.props);
        const where = [event.country, event.browser, event.device].filter(Boolean).join(" · ");
        return h(
          "li",
          { class: "tail-item" },
          h("time", { text: eventTime(event) }),
          h("span", { class: "event-name", text: event.name || "event" }),
          h("span", { class: "event-page", title: event.url || "", text: eventPath(event) }),
          event.source || event.referrer ? h("span", { class: "event-source muted", text: event.source || shortPath(event.referrer) }) : null,
          where ? h("span", { class: "event-where muted", text: where }) : null,
          props ? h("span", { class: "event-props", text: props }) : null,
        );
      }),
    );
  }

  // Only the lists that hold something are shown: empty ones collapse into one line.
  function renderTops() {
    const lists = [
      ["Top pages now", topPairs(state.top_pages), shortPath, "(none)"],
      ["Top sources now", topPairs(state.top_sources), (v) => v, "(direct)"],
      ["Top countries now", topPairs(state.top_countries), countryName, "(unknown)"],
    ].filter(([, pairs]) => pairs.length);
    tops.classList.toggle("collapsed", !lists.length);
    replace(tops, lists.length ? lists.map(([title, pairs, format, none]) => topList(title, pairs, format, none)) : h("p", { class: "muted small", text: "No pages, sources or countries in the last minutes." }));
  }

  function apply(message, isSnapshot) {
    for (const key of ["visitors_now", "events_per_s", "top_pages", "top_sources", "top_countries"]) {
      if (message[key] !== undefined) state[key] = message[key];
    }
    visitors.textContent = fmtNumber(state.visitors_now);
    rate.textContent = fmtNumber(state.events_per_s);
    renderTops();
    const recent = Array.isArray(message.recent) ? message.recent : Array.isArray(message.events) ? message.events : [];
    if (isSnapshot) {
      tail.length = 0;
      seen.clear();
    }
    // Newest first; the server may send the whole recent window or only what is new: dedupe by id.
    const fresh = [];
    for (const event of recent) {
      if (!event || typeof event !== "object") continue;
      const key = eventKey(event);
      if (seen.has(key)) continue;
      seen.add(key);
      fresh.push(event);
    }
    fresh.sort((a, b) => (Number(b.ts) || 0) - (Number(a.ts) || 0));
    tail.unshift(...fresh);
    tail.sort((a, b) => (Number(b.ts) || 0) - (Number(a.ts) || 0));
    while (tail.length > TAIL_MAX) seen.delete(eventKey(tail.pop()));
    renderTail();
  }

  // Send a fresh token before the current one expires, so the server keeps the socket open.
  function scheduleRenewal() {
    clearTimeout(renewTimer);
    if (!source.renewAuth) return;
    renewTimer = setTimeout(async () => {
      const auth = await source.renewAuth().catch(() => null);
      if (auth) sendJson(auth);
      scheduleRenewal();
    }, RENEW_EVERY_MS);
  }

  async function connect() {
    if (closed) return;
    setStatus("connecting", retry ? "Reconnecting…" : "Connecting…");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let auth;
    try {
      auth = await source.liveAuth(authRetried);
    } catch {
      auth = null;
    }
    if (closed) return;
    if (!auth) {
      setStatus("ended", "Signed out: live updates stopped.");
      return;
    }
    socket = new WebSocket(`${scheme}//${location.host}${source.liveUrl}`);
    socket.addEventListener("open", () => {
      const filter = currentFilter();
      socket.send(JSON.stringify(Object.keys(filter).length ? { ...auth, filter } : auth));
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!message || typeof message !== "object") return;
      if (message.type === "error") {
        setStatus("live", `Live (${String(message.error?.message || "the server refused a request")})`);
        return;
      }
      if (message.type === "auth") return;
      if (message.type === "snapshot" && !admitted) {
        admitted = true;
        scheduleRenewal();
      }
      retry = 0;
      authRetried = false;
      setStatus("live", "Live");
      apply(message, message.type === "snapshot");
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      admitted = false;
      clearTimeout(renewTimer);
      if (closed) return;
      if (FINAL_CLOSE_CODES.has(event.code)) {
        setStatus("ended", event.reason || "Live updates are not available for this site.");
        return;
      }
      if (event.code === CLOSE_UNAUTHORIZED) {
        if (authRetried) {
          setStatus("ended", event.reason || "Live updates need you to sign in again.");
          return;
        }
        authRetried = true;
        retry = 0;
      }
      retry = Math.min(retry + 1, 6);
      const delay = Math.min(30000, 500 * 2 ** retry);
      setStatus("reconnecting", `Disconnected; retrying in ${Math.round(delay / 1000)} s…`);
      retryTimer = setTimeout(connect, delay);
    });
  }

  // The sparkline samples the latest rate once a second, so it moves evenly whether ticks come often
  // (busy site) or every few seconds (quiet site).
  const sampler = setInterval(() => {
    if (typeof state.events_per_s !== "number" || !admitted) return;
    series.x.push(Date.now() / 1000);
    series.y.push(state.events_per_s);
    if (series.x.length > SPARK_POINTS) {
      series.x.shift();
      series.y.shift();
    }
    spark.update(series.x, series.y);
  }, 1000);

  renderTops();
  renderTail();
  connect();
  return () => {
    closed = true;
    clearInterval(sampler);
    clearTimeout(retryTimer);
    clearTimeout(renewTimer);
    clearTimeout(filterTimer);
    spark.destroy();
    if (socket) socket.close(1000, "page left");
  };
}
