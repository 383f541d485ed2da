// /invite#token=...: accept an invitation to a site's team. A new person chooses a password (the account
// is created); someone with an account gives its password (and code, with two-factor sign-in on), or is
// already signed in as it.

import { api, acceptTokens, hasSession, ApiError } from "../api.js";
import { h, field, replace, showFormError, onSubmit } from "../dom.js";
import { authForm, takeFragment } from "./cards.js";

export async function render(main, _params, { navigate }) {
  const token = takeFragment().get("token") || "";
  const name = h("input", { type: "text", name: "name", autocomplete: "name", maxlength: 100 });
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password", maxlength: 1024 });
  const code = h("input", { type: "text", name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 64 });
  const codeField = field("Code from your authenticator app", code);
  codeField.hidden = true;
  const { form, submit } = authForm({
    title: "Join the team",
    help: "New to Eddy? Choose a password to create your account. Already have one? Enter its password.",
    fields: [field("Your name (optional)", name), field("Password", password, "At least 8 characters for a new account."), codeField],
    submitLabel: "Accept the invitation",
  });
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
