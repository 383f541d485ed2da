// The read-only dashboard behind a share link (/share#TOKEN). The token is moved from the fragment into
// sessionStorage and the fragment is dropped from the address bar; it is sent only in the X-Share-Token
// header and in the live socket's first message, never in a URL.

import { shared, qs } from "../api.js";
import { h, replace, loading, errorBox } from "../dom.js";
import { dashboard } from "./site.js";

const SHARE_KEY = "eddy.share_token";
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{20,128}$/;

function takeToken() {
  const fromHash = location.hash.slice(1);
  if (TOKEN_SHAPE.test(fromHash)) {
    try {
      sessionStorage.setItem(SHARE_KEY, fromHash);
    } catch {
      // storage disabled: keep the token in memory only
    }
    history.replaceState(null, "", "/share");
    return fromHash;
  }
  try {
    return sessionStorage.getItem(SHARE_KEY);
  } catch {
    return null;
  }
}

export async function render(main) {
  const token = takeToken();
  if (!token) {
    replace(main, h("h1", { text: "Shared dashboard" }), errorBox(new Error("This share link is incomplete. Ask for the full link.")));
    return undefined;
  }
  replace(main, loading());
  let site;
  try {
    const answer = await shared("/api/v1/share/site", token);
    site = answer.site;
  } catch (error) {
    replace(main, h("h1", { text: "Shared dashboard" }), errorBox(error.status === 401 ? new Error("This share link is not valid any more.") : error));
    return undefined;
  }
  const body = h("div", { class: "tab-body" });
  replace(
    main,
    h("div", { class: "site-head" }, h("h1", { text: site.name || site.domain }), h("span", { class: "muted", text: site.domain || "" }), h("span", { class: "badge", text: "read-only" })),
    body,
  );
  // A link revoked while open: one message for the whole page, not one per card.
  let stop = null;
  let ended = false;
  const revoked = () => {
    if (ended) return;
    ended = true;
    stop?.();
    replace(main, h("h1", { text: "Shared dashboard" }), errorBox(new Error("This share link is not valid any more.")));
  };
  stop = dashboard(body, {
    timezone: site.timezone,
    stats: async (kind, params) => {
      try {
        return await shared(`/api/v1/share/stats/${kind}${qs(params)}`, token);
      } catch (error) {
        if (error.status === 401) revoked();
        throw error;
      }
    },
    liveUrl: "/ws/share/live",
    liveAuth: async () => ({ share_token: token }),
  });
  return () => {
    if (!ended) stop();
  };
}
