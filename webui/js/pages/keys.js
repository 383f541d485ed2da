// API keys of a site: list, create (the value is shown once, with a copy button), revoke, rotate.

import { post, patch } from "../api.js";
import { h, replace, append, field, loading, empty, errorBox, copyButton, fmtTime, showFormError, clearFormError, flash, select } from "../dom.js";
import { loadList } from "./lists.js";

function revealBox(key, note) {
  const value = h("code", { class: "secret-value", "data-testid": "new-key-value", text: key.key });
  return h(
    "div",
    { class: "card reveal", role: "status" },
    h("p", {}, h("strong", { text: note })),
    h("div", { class: "copy-row" }, value, copyButton(() => key.key, "Copy key")),
  );
}

export async function render(body, site) {
  const base = `/api/v1/sites/${encodeURIComponent(site.id)}/keys`;
  const revealArea = h("div", {});
  const listArea = h("div", {}, loading());
  const name = h("input", { type: "text", name: "name", required: true, maxlength: 100, placeholder: "Website tracker" });
  const kind = select("kind", [
    ["public", "Public: tracker snippet, ingest only"],
    ["secret", "Secret: server-side ingest and stats"],
  ]);
  const expires = h("input", { type: "number", name: "expires_in_days", min: 1, max: 3650, placeholder: "365" });
  const form = h(
    "form",
    { class: "card key-form", novalidate: true, "aria-labelledby": "new-key-title" },
    h("h3", { id: "new-key-title", text: "New key" }),
    field("Name", name),
    field("Kind", kind),
    field("Expires after (days)", expires, "Empty: one year."),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Create key" })),
  );

  function show(key, note) {
    replace(revealArea, revealBox(key, note));
    revealArea.querySelector("button")?.focus();
  }

  async function act(promise, done) {
    try {
      const answer = await promise;
      done?.(answer);
      await load();
    } catch (error) {
      replace(revealArea, errorBox(error));
    }
  }

  function actions(key) {
    const cell = h("div", { class: "row-actions" });
    if (key.active) {
      const revoke = h("button", { type: "button", class: "secondary small", "data-action": "revoke", text: "Revoke", "aria-label": `Revoke ${key.name}` });
      revoke.addEventListener("click", () => {
        if (!window.confirm(`Revoke "${key.name}"? Anything using it stops working at once.`)) return;
        act(patch(`${base}/${encodeURIComponent(key.id)}`, { active: false }), () => flash("Key revoked.", "ok"));
      });
      const rotate = h("button", { type: "button", class: "secondary small", "data-action": "rotate", text: "Rotate", "aria-label": `Rotate ${key.name}` });
      rotate.addEventListener("click", () => {
        if (!window.confirm(`Rotate "${key.name}"? The current value stops working.`)) return;
        act(post(`${base}/${encodeURIComponent(key.id)}/rotate`, {}), (answer) => show(answer.key || answer, "The new key value. Copy it now: the old value no longer works."));
      });
      append(cell, [rotate, revoke]);
    } else {
      const restore = h("button", { type: "button", class: "secondary small", "data-action": "activate", text: "Re-activate", "aria-label": `Re-activate ${key.name}` });
      restore.addEventListener("click", () => act(patch(`${base}/${encodeURIComponent(key.id)}`, { active: true })));
      cell.append(restore);
    }
    return cell;
  }

  async function load() {
    await loadList(listArea, base, ["keys"], {
      columns: [
        { label: "Name", value: (k) => k.name },
        { label: "Kind", value: (k) => k.kind },
        { label: "Key", value: (k) => h("code", { text: k.kind === "public" && k.key ? k.key : `${k.prefix || ""}…` }) },
        { label: "Status", value: (k) => h("span", { class: ["badge", k.active ? "ok" : "off"], "data-testid": "key-status", text: k.active ? "active" : "revoked" }) },
        { label: "Expires", value: (k) => (k.expires_at ? fmtTime(k.expires_at) : "never") },
        { label: "Last used", value: (k) => (k.last_used_at ? fmtTime(k.last_used_at) : "never") },
        { label: "", value: actions },
      ],
      caption: "API keys",
      none: empty("No keys yet. Create a public key for the tracker snippet."),
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormError(form);
    const payload = { name: name.value.trim(), kind: kind.value };
    if (expires.value) payload.expires_in_days = Number(expires.value);
    try {
      const answer = await post(base, payload);
      const key = answer.key || answer;
      form.reset();
      show(
        key,
        key.kind === "secret"
          ? "Your secret key. Copy it now: it will not be shown again."
          : "Your public key. It goes into the tracker snippet (see the Snippet tab).",
      );
      await load();
    } catch (error) {
      showFormError(form, error);
    }
  });

  replace(body, h("h2", { text: "API keys" }), revealArea, listArea, form);
  await load();
}
