// Team members of a site: people with the viewer or admin role (the owner manages them).

import { get, post, patch, del, items } from "../api.js";
import { h, replace, field, loading, empty, errorBox, table, showFormError, clearFormError, flash, fmtTime } from "../dom.js";

const ROLES = [
  ["viewer", "Viewer: sees the dashboard"],
  ["admin", "Admin: also manages keys and metrics"],
];

export async function render(body, site) {
  const base = `/api/v1/sites/${encodeURIComponent(site.id)}/members`;
  const listArea = h("div", {}, loading());
  const status = h("div", {});
  const email = h("input", { type: "email", name: "email", required: true, maxlength: 254, autocomplete: "off" });
  const role = h("select", { name: "role" }, ROLES.map(([v, l]) => h("option", { value: v, text: l })));
  const form = h(
    "form",
    { class: "card member-form", novalidate: true, "aria-labelledby": "new-member-title" },
    h("h3", { id: "new-member-title", text: "Add a member" }),
    field("Email of an Eddy user", email),
    field("Role", role),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Add member" })),
  );

  function roleSelect(member) {
    const select = h("select", { "aria-label": `Role of ${member.email || member.user_id}` }, ROLES.map(([v]) => h("option", { value: v, text: v, selected: v === member.role })));
    select.addEventListener("change", async () => {
      try {
        await patch(`${base}/${encodeURIComponent(member.id)}`, { role: select.value });
        flash("Role changed.", "ok");
      } catch (error) {
        replace(status, errorBox(error));
        select.value = member.role;
      }
    });
    return select;
  }

  async function load() {
    try {
      const members = items(await get(base), "members");
      replace(
        listArea,
        members.length
          ? table(
              [
                { label: "Member", value: (m) => m.email || m.name || m.user_id },
                { label: "Role", value: (m) => (!site.role || site.role === "owner" ? roleSelect(m) : m.role) },
                { label: "Since", value: (m) => fmtTime(m.created_at) },
                {
                  label: "",
                  value: (m) => {
                    const remove = h("button", { type: "button", class: "secondary small", text: "Remove", "aria-label": `Remove ${m.email || m.user_id}` });
                    remove.addEventListener("click", async () => {
                      if (!window.confirm("Remove this member from the site?")) return;
                      try {
                        await del(`${base}/${encodeURIComponent(m.id)}`);
                        await load();
                      } catch (error) {
                        replace(status, errorBox(error));
                      }
                    });
                    return remove;
                  },
                },
              ],
              members,
              "Team members",
            )
          : empty("Only you can see this site. Add people by the email they signed up with."),
      );
    } catch (error) {
      replace(listArea, errorBox(error));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormError(form);
    try {
      await post(base, { email: email.value.trim(), role: role.value });
      form.reset();
      flash("Member added.", "ok");
      await load();
    } catch (error) {
      showFormError(form, error);
    }
  });
  const isOwner = !site.role || site.role === "owner";
  // Adding members and changing roles are the owner's (the API answers 403 to anyone else).
  replace(body, h("h2", { text: "Team" }), status, listArea, isOwner ? form : h("p", { class: "muted", text: "Only the site's owner adds members or changes roles." }));
  await load();
}
