// The app shell: a small history-based router, the top navigation and page lifecycles.
// Each page module exports `render(main, params)`; it may return a cleanup function (sockets, timers)
// that runs when the user leaves the page.

import { get, hasSession, onSessionChange, session, signOut } from "./api.js";
import { h, replace, loading, errorBox } from "./dom.js";

const routes = [
  { pattern: /^\/login\/?$/, load: () => import("./pages/auth.js"), page: "login", guest: true },
  { pattern: /^\/register\/?$/, load: () => import("./pages/auth.js"), page: "register", guest: true },
  { pattern: /^\/share\/?$/, load: () => import("./pages/shared.js"), open: true },
  { pattern: /^\/forgot\/?$/, load: () => import("./pages/recovery.js"), page: "forgot", guest: true },
  { pattern: /^\/reset\/?$/, load: () => import("./pages/recovery.js"), page: "reset", open: true },
  { pattern: /^\/verify\/?$/, load: () => import("./pages/recovery.js"), page: "verify", open: true },
  { pattern: /^\/unsubscribe\/?$/, load: () => import("./pages/recovery.js"), page: "unsubscribe", open: true },
  { pattern: /^\/invite\/?$/, load: () => import("./pages/invite.js"), open: true },
  { pattern: /^\/account\/?$/, load: () => import("./pages/account.js") },
  { pattern: /^\/admin\/?$/, load: () => import("./pages/admin.js") },
  { pattern: /^\/(?:sites\/?)?$/, load: () => import("./pages/sites.js"), page: "list" },
  { pattern: /^\/sites\/new\/?$/, load: () => import("./pages/sites.js"), page: "new" },
  {
    pattern: /^\/sites\/([A-Za-z0-9_-]{1,64})(?:\/(live|history|keys|metrics|snippet|members|share|imports|settings))?\/?$/,
    load: () => import("./pages/site.js"),
    params: ["siteId", "tab"],
  },
];

let cleanup = null;
let renderSeq = 0;

/** Where to go after signing in: the `next` page of the address bar when it is one of the app's own
 *  pages (never another origin, never the sign-in pages), else the sites list. */
export function afterSignIn() {
  const next = new URLSearchParams(location.search).get("next") || "";
  if (!next.startsWith("/") || next.startsWith("//") || next.includes("\\") || next.length > 500) return "/sites";
  const found = match(new URL(next, location.origin).pathname);
  return found && !found.spec.guest && !found.spec.open ? next : "/sites";
}

/** Go to an app path without reloading. */
export function navigate(path, { replace: replaceState = false } = {}) {
  if (replaceState) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  route();
}

function match(path) {
  for (const spec of routes) {
    const found = spec.pattern.exec(path);
    if (!found) continue;
    const params = { page: spec.page };
    (spec.params || []).forEach((name, i) => (params[name] = found[i + 1]));
    return { spec, params };
  }
  return null;
}

async function ensureUser() {
  if (session.user || !hasSession()) return session.user;
  try {
    const answer = await get("/api/v1/auth/me");
    session.user = answer.user || answer;
    renderNav();
  } catch {
    session.user = null;
  }
  return session.user;
}

async function route() {
  const seq = ++renderSeq;
  if (cleanup) {
    try {
      cleanup();
    } catch {
      // a page that fails to clean up must not block navigation
    }
    cleanup = null;
  }
  const main = document.getElementById("main");
  const found = match(location.pathname);
  if (!found) {
    replace(main, h("h1", { text: "Page not found" }), h("p", {}, h("a", { href: "/", "data-route": true, text: "Back to your sites" })));
    return;
  }
  replace(main, loading());
  const { spec, params } = found;
  if (!spec.open) {
    const user = await ensureUser();
    if (seq !== renderSeq) return;
    if (!spec.guest && !user) {
      // The page asked for comes back after sign-in (a deep link survives it).
      const wanted = location.pathname + location.search;
      navigate(wanted === "/" || wanted === "/sites" ? "/login" : `/login?next=${encodeURIComponent(wanted)}`, { replace: true });
      return;
    }
    if (spec.guest && user) {
      navigate(afterSignIn(), { replace: true });
      return;
    }
  }
  try {
    const module = await spec.load();
    if (seq !== renderSeq) return;
    const result = await module.render(main, params, { navigate, isCurrent: () => seq === renderSeq });
    if (seq !== renderSeq) {
      if (typeof result === "function") result();
      return;
    }
    cleanup = typeof result === "function" ? result : null;
  } catch (error) {
    if (seq === renderSeq) replace(main, errorBox(error));
  }
}

function renderNav() {
  const nav = document.getElementById("nav");
  if (!nav) return;
  if (session.user) {
    const out = h("button", { type: "button", class: "link", text: "Sign out" });
    out.addEventListener("click", async () => {
      await signOut();
      navigate("/login");
    });
    replace(
      nav,
      h("a", { href: "/sites", "data-route": true, text: "Sites" }),
      session.user.instance_admin ? h("a", { href: "/admin", "data-route": true, text: "Admin" }) : null,
      h("a", { href: "/account", "data-route": true, class: "who", text: session.user.email || session.user.name || "Account" }),
      out,
    );
  } else if (location.pathname.startsWith("/share")) {
    replace(nav);
  } else {
    replace(
      nav,
      h("a", { href: "/login", "data-route": true, text: "Sign in" }),
      h("a", { href: "/register", "data-route": true, text: "Sign up" }),
    );
  }
}

// Same-origin links marked data-route are handled by the router; everything else is a normal link.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-route]");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const href = link.getAttribute("href");
  if (!href || !href.startsWith("/") || href.startsWith("//")) return;
  event.preventDefault();
  navigate(href);
});

window.addEventListener("popstate", route);
onSessionChange(() => {
  renderNav();
  // A session that ended elsewhere (refresh refused) sends the user back to sign in.
  // Pages open to anyone (share links, mailed links) stay where they are.
  const here = match(location.pathname)?.spec;
  if (!session.user && !hasSession() && !here?.guest && !here?.open) {
    navigate("/login", { replace: true });
  }
});

renderNav();
route();
