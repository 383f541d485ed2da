// A site's team: members with the viewer or admin role, and the owner's invitations. People join only by
// accepting an invitation (mailed to them, or, on a server without mail, a link the owner passes on).

import { post, patch } from "../api.js";
import { h, replace, field, loading, empty, errorBox, showFormError, clearFormError, flash, fmtTime, copyButton, select } from "../dom.js";
import { loadList, deleteButton } from "./lists.js";

const ROLES = [
  ["viewer", "Viewer: sees the dashboard"],
  ["admin", "Admin: also manages keys and metrics"],
];

export async function render(body, site) {
  const isOwner = !site.role || site.role === "owner";
  const base = `/api/v1/sites/${encodeURIComponent(site.id)}/members`;
  const invitationsBase = `/api/v1/sites/${encodeURIComponent(site.id)}/invitations`;
  const listArea = h("div", {}, loading());
  const invitationsArea = h("div", { class: "invitations" });
  const linkArea = h("div", { class: "invite-link" });
  const status = h("div", {});
  const email = h("input", { type: "email", name: "email", required: true, maxlength: 254, autocomplete: "off" });
  const role = select("role", ROLES);
  const form = h(
    "form",
    { class: "card member-form", novalidate: true, "aria-labelledby": "new-member-title" },
    h("h3", { id: "new-member-title", text: "Invite someone" }),
    field("Email", email, "They join when they accept; they can create an account from the invitation."),
    field("Role", role),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Send invitation" })),
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
    await loadList(listArea, base, ["members"], {
      columns: [
        { label: "Member", value: (m) => m.email || m.name || m.user_id },
        { label: "Role", value: (m) => (!site.role || site.role === "owner" ? roleSelect(m) : m.role) },
        { label: "Since", value: (m) => fmtTime(m.created_at) },
        {
          label: "",
          value: (m) =>
            deleteButton(`${base}/${encodeURIComponent(m.id)}`, { text: "Remove", "aria-label": `Remove ${m.email || m.user_id}` }, { confirm: "Remove this member from the site?", done: load, status }),
        },
      ],
      caption: "Team members",
      none: empty("Only you can see this site. Invite people by email."),
    });
    if (isOwner) await loadInvitations();
  }

  async function loadInvitations() {
    await loadList(invitationsArea, invitationsBase, ["invitations"], {
      columns: [
        { label: "Email", value: (i) => i.email },
        { label: "Role", value: (i) => i.role },
        { label: "Expires", value: (i) => fmtTime(i.expires_at) },
        {
          label: "",
          value: (i) =>
            deleteButton(`${invitationsBase}/${encodeURIComponent(i.id)}`, { text: "Withdraw", "aria-label": `Withdraw the invitation of ${i.email}` }, { done: loadInvitations, status }),
        },
      ],
      caption: "Pending invitations",
      heading: "Pending invitations",
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormError(form);
    try {
      const answer = await post(invitationsBase, { email: email.value.trim(), role: role.value });
      form.reset();
      if (answer.link) {
        const link = new URL(answer.link, location.origin).href;
        // No mail on this server: the owner passes the link on.
        replace(linkArea, h("p", { text: "This server cannot send email: give this link to the person you invited." }), h("code", { class: "link", text: link }), copyButton(() => link, "Copy link"));
      } else {
        replace(linkArea);
        flash("Invitation sent.", "ok");
      }
      await loadInvitations();
    } catch (error) {
      showFormError(form, error);
    }
  });
  // Inviting and changing roles are the owner's (the API answers 403 to anyone else).
  replace(body, h("h2", { text: "Team" }), status, listArea, invitationsArea, isOwner ? [form, linkArea] : h("p", { class: "muted", text: "Only the site's owner invites people or changes roles." }));
  await load();
}
