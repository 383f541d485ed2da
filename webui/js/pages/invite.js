// /invite#token=...: accept an invitation to a site's team. A new person chooses a password (the account
// is created); someone with an account gives its password (and code, with two-factor sign-in on), or is
// already signed in as it.

import { api, acceptTokens, hasSession, ApiError } from "../api.js";
import { h, field, replace, showFormError, onSubmit } from "../dom.js";

export async function render(main, _params, { navigate }) {
  const values = new URLSearchParams(location.hash.slice(1));
  if (location.hash) history.replaceState(history.state, "", location.pathname);
  const token = values.get("token") || "";
  const name = h("input", { type: "text", name: "name", autocomplete: "name", maxlength: 100 });
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password", maxlength: 1024 });
  const code = h("input", { type: "text", name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 64 });
  const codeField = field("Code from your authenticator app", code);
  codeField.hidden = true;
  const submit = h("button", { type: "submit", text: "Accept the invitation" });
  const form = h(
    "form",
    { class: "card auth-form", novalidate: true },
    h("h1", { text: "Join the team" }),
    h("p", { text: "New to Eddy? Choose a password to create your account. Already have one? Enter its password." }),
    field("Your name (optional)", name),
    field("Password", password, "At least 8 characters for a new account."),
    codeField,
    h("div", { class: "actions" }, submit),
  );
  async function accept(withSession) {
    const body = { token };
    if (password.value) body.password = password.value;
    if (code.value.trim()) body.code = code.value.trim();
    if (name.value.trim()) body.name = name.value.trim();
    const answer = await api("POST", "/api/v1/invitations/accept", body, { auth: withSession });
    acceptTokens(answer);
    navigate(`/sites/${encodeURIComponent(answer.site_id)}`, { replace: true });
  }
  onSubmit(
    form,
    submit,
    () => accept(hasSession()),
    (error) => {
      if (error instanceof ApiError && error.code === "two_factor_required") codeField.hidden = false;
    },
  );
  replace(main, h("section", { class: "auth" }, form));
  if (!token) showFormError(form, new ApiError(422, "invalid_token", "This page needs the link from the invitation email."));
}
