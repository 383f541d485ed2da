// Share links of a site: read-only dashboard links. The token travels in the URL fragment (#...), which
// browsers never send to a server or in a Referer; Eddy stores only its HMAC, so a link is shown once.

import { get, post, del, items } from "../api.js";
import { h, replace, loading, empty, errorBox, table, copyButton, fmtTime, flash } from "../dom.js";

export async function render(body, site) {
  const base = `/api/v1/sites/${encodeURIComponent(site.id)}/share-links`;
  const reveal = h("div", {});
  const listArea = h("div", {}, loading());
  const create = h("button", { type: "button", text: "Create a share link" });

  async function load() {
    try {
      const links = items(await get(base), "share_links").filter((l) => !l.revoked);
      replace(
        listArea,
        links.length
          ? table(
              [
                { label: "Created", value: (l) => fmtTime(l.created_at) },
                {
                  label: "",
                  value: (l) => {
                    const revoke = h("button", { type: "button", class: "secondary small", "data-action": "revoke-share", text: "Revoke" });
                    revoke.addEventListener("click", async () => {
                      if (!window.confirm("Revoke this link? People using it lose access at once.")) return;
                      try {
                        await del(`${base}/${encodeURIComponent(l.id)}`);
                        flash("Share link revoked.", "ok");
                        replace(reveal);
                        await load();
                      } catch (error) {
                        replace(reveal, errorBox(error));
                      }
                    });
                    return revoke;
                  },
                },
              ],
              links,
              "Share links",
            )
          : empty("No share links. A share link lets anyone holding it see this site's dashboard, read-only."),
      );
    } catch (error) {
      replace(listArea, errorBox(error));
    }
  }

  create.addEventListener("click", async () => {
    create.disabled = true;
    try {
      const answer = await post(base, {});
      const link = answer.share_link || answer;
      const url = `${location.origin}/share#${link.token}`;
      replace(
        reveal,
        h(
          "div",
          { class: "card reveal", role: "status" },
          h("p", {}, h("strong", { text: "Anyone with this link can see the dashboard, read-only. Copy it now: it will not be shown again." })),
          h("div", { class: "copy-row" }, h("code", { class: "secret-value", "data-testid": "share-url", text: url }), copyButton(() => url, "Copy link")),
        ),
      );
      await load();
    } catch (error) {
      replace(reveal, errorBox(error));
    } finally {
      create.disabled = false;
    }
  });
  replace(body, h("h2", { text: "Share a read-only dashboard" }), reveal, listArea, h("div", { class: "actions" }, create));
  await load();
}
