// Share links of a site: read-only dashboard links. The token travels in the URL fragment (#...), which
// browsers never send to a server or in a Referer; Eddy stores only its HMAC, so a link is shown once.

import { post } from "../api.js";
import { h, replace, loading, empty, errorBox, copyButton, fmtTime, flash } from "../dom.js";
import { loadList, deleteButton } from "./lists.js";

export async function render(body, site) {
  const base = `/api/v1/sites/${encodeURIComponent(site.id)}/share-links`;
  const reveal = h("div", {});
  const listArea = h("div", {}, loading());
  const create = h("button", { type: "button", text: "Create a share link" });

  async function revoked() {
    flash("Share link revoked.", "ok");
    replace(reveal);
    await load();
  }

  async function load() {
    await loadList(listArea, base, ["share_links"], {
      keep: (l) => !l.revoked,
      columns: [
        { label: "Created", value: (l) => fmtTime(l.created_at) },
        {
          label: "",
          value: (l) =>
            deleteButton(`${base}/${encodeURIComponent(l.id)}`, { "data-action": "revoke-share", text: "Revoke" }, { confirm: "Revoke this link? People using it lose access at once.", done: revoked, status: reveal }),
        },
      ],
      caption: "Share links",
      none: empty("No share links. A share link lets anyone holding it see this site's dashboard, read-only."),
    });
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
