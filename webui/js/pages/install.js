// "Verify installation": asks Eddy whether it has seen the site's keys in use (the last accepted event,
// when and from which origin) and which requests it refused lately and why, in sentences. Shown on the
// Snippet tab and above a dashboard that has received nothing lately.

import { get } from "../api.js";
import { h, replace, loading, errorBox, fmtTime } from "../dom.js";
import { isReadable } from "../errors.js";

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "2 minutes ago" for an epoch ms (exact time in the title). */
function ago(ms) {
  const seconds = Math.round((ms - Date.now()) / 1000);
  const steps = [
    [60, "second"],
    [3600, "minute"],
    [86400, "hour"],
    [Infinity, "day"],
  ];
  let unit = 1;
  for (const [limit, name] of steps) {
    if (Math.abs(seconds) < limit) return relative.format(Math.round(seconds / unit), name);
    unit = limit;
  }
  return fmtTime(ms);
}

/** One refusal as a sentence a site owner can act on. */
export function refusalSentence(refusal, allowed) {
  const origin = refusal.origin || "";
  switch (refusal.reason) {
    case "bad_origin":
      if (!origin) return "A request came without an Origin header, so it was not from a web page; the public key only works in the pages of the allowed origins.";
      return `A page on ${origin} was refused: this origin is not one of the site's allowed origins (${allowed.join(", ") || "none"}). Add it in Settings if the page is yours.`;
    case "wrong_key_kind":
      return "A secret key was sent from a browser and refused. Pages must use the public key of the snippet; keep secret keys on servers.";
    case "bot":
      return `A visit from an automated browser${refusal.detail ? ` (${refusal.detail})` : ""} was not counted${origin ? ` on ${origin}` : ""}. The snippet's "Also track automated browsers" counts test browsers.`;
    case "rate_limited":
      return "Too many requests came at once and some were refused. They are sent again by the tracker.";
    case "invalid":
      return isReadable(refusal.detail) ? `Events were refused as malformed: ${refusal.detail}.` : "Events were refused as malformed.";
    case "spam_referrer":
      return "Visits referred by a known spam site were not counted.";
    default:
      return "A request was refused.";
  }
}

function report(answer) {
  const allowed = answer.allowed_origins || [];
  const last = answer.last_event;
  const parts = [];
  if (answer.seen && last) {
    parts.push(
      h(
        "p",
        { class: "install-ok", "data-state": "seen" },
        h("strong", { text: "Eddy is receiving events. " }),
        h("span", { title: fmtTime(last.at), text: `The last one came ${ago(last.at)}${last.origin ? ` from ${last.origin}` : " from a server"}.` }),
      ),
    );
  } else {
    parts.push(
      h("p", { class: "install-none", "data-state": "none" }, h("strong", { text: "No events received in the last 7 days. " }), "Open a page of the site that carries the snippet, then verify again."),
      h(
        "ul",
        { class: "hint" },
        h("li", { text: "The tracker skips localhost, automated browsers and visitors with Do Not Track (unless the snippet allows them): test in an ordinary browser window." }),
        h("li", { text: `Pages must be on an allowed origin: ${allowed.join(", ") || "none yet"}.` }),
        h("li", { text: "A Content-Security-Policy on the page must allow Eddy's origin in script-src and connect-src." }),
      ),
    );
  }
  const refusals = answer.refusals || [];
  if (refusals.length) {
    parts.push(
      h("h4", { text: "Refused lately" }),
      h(
        "ul",
        { class: "refusals", "data-testid": "refusals" },
        refusals.map((r) => h("li", { "data-reason": r.reason }, h("span", { class: "muted", title: fmtTime(r.at), text: `${ago(r.at)}: ` }), refusalSentence(r, allowed))),
      ),
    );
  } else parts.push(h("p", { class: "muted", text: "Nothing was refused lately." }));
  return parts;
}

/** A card with a "Verify installation" button; `auto` runs the check at once. */
export function installationCheck(siteId, { auto = false, title = "Installation" } = {}) {
  const body = h("div", { class: "install-body", "aria-live": "polite" });
  const button = h("button", { type: "button", class: "secondary", text: "Verify installation" });
  async function run() {
    button.disabled = true;
    replace(body, loading("Asking Eddy…"));
    try {
      const answer = await get(`/api/v1/sites/${encodeURIComponent(siteId)}/installation`);
      replace(body, report(answer));
    } catch (error) {
      replace(body, errorBox(error));
    } finally {
      button.disabled = false;
    }
  }
  button.addEventListener("click", run);
  if (auto) run();
  return h("section", { class: "card install-check", "data-testid": "install-check" }, h("div", { class: "section-head" }, h("h3", { text: title }), button), body);
}

/** The installation of a site whose dashboard has received nothing lately: a card above the
 *  dashboard, or nothing once events arrive. */
export async function emptyDashboardCheck(siteId) {
  try {
    const answer = await get(`/api/v1/sites/${encodeURIComponent(siteId)}/installation`);
    if (answer.seen) return null;
  } catch {
    return null;
  }
  return installationCheck(siteId, { auto: true, title: "Waiting for the first events" });
}
