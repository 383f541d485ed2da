// /admin: the instance admin's page: who may sign up (registration mode) and every account.

import { get, patch, items } from "../api.js";
import { h, field, replace, loading, errorBox, flash, table, fmtTime } from "../dom.js";

const MODES = [
  ["invite", "By invitation: only people invited to a site can sign up"],
  ["open", "Open: anyone who reaches this server can sign up"],
  ["closed", "Closed: accounts are made with python run.py admin"],
];

export async function render(main) {
  replace(main, loading());
  let settings;
  try {
    settings = await get("/api/v1/admin/settings");
  } catch (error) {
    replace(main, h("h1", { text: "Instance admin" }), errorBox(error));
    return;
  }
  const users = items(await get("/api/v1/admin/users"), "users");
  const mode = h("select", { name: "registration", disabled: settings.set_by_environment }, MODES.map(([value, label]) => h("option", { value, text: label, selected: value === settings.registration })));
  mode.addEventListener("change", async () => {
    try {
      settings = await patch("/api/v1/admin/settings", { registration: mode.value });
      flash("Registration mode saved.", "ok");
    } catch (error) {
      mode.value = settings.registration;
      flash(error.message, "error");
    }
  });
  replace(
    main,
    h("h1", { text: "Instance admin" }),
    h(
      "section",
      { class: "card", "aria-label": "Registration" },
      h("h2", { text: "Registration" }),
      field("Who may sign up", mode, settings.set_by_environment ? "Set by EDDY_REGISTRATION on the server." : null),
    ),
    h(
      "section",
      { class: "card", "aria-label": "Accounts" },
      h("h2", { text: `Accounts (${users.length})` }),
      table(
        [
          { label: "Email", value: (u) => u.email },
          { label: "Name", value: (u) => u.name || "–", optional: true },
          { label: "Confirmed", value: (u) => (u.email_verified ? "yes" : "no") },
          { label: "Two-factor", value: (u) => (u.two_factor ? "on" : "off") },
          { label: "Admin", value: (u) => (u.instance_admin ? "yes" : "") },
          { label: "Since", value: (u) => fmtTime(u.created_at) },
        ],
        users,
        "Accounts",
      ),
    ),
  );
}
