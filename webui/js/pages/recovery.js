// Pages opened from mailed links, and the forgotten-password form (no sign-in needed):
// - /forgot: ask for a reset link;
// - /reset#token=...: choose a new password (every session of the account ends);
// - /verify#token=...: confirm an email address;
// - /unsubscribe#id=...&key=...: stop a report subscription.
// The token sits in the fragment (never sent to a server or logged): it is read, then removed from the
// address bar at once.

import { api, ApiError, forgetTokens } from "../api.js";
import { h, field, replace, onSubmit } from "../dom.js";
import { authForm, takeFragment } from "./cards.js";

function card(title, ...children) {
  return h("section", { class: "auth" }, h("div", { class: "card auth-form" }, h("h1", { text: title }), ...children));
}

function done(main, title, message, link = { href: "/login", text: "Sign in" }) {
  replace(main, card(title, h("p", { class: "done", role: "status", text: message }), h("p", {}, h("a", { href: link.href, "data-route": true, text: link.text }))));
}

function forgot(main) {
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true, maxlength: 254 });
  const { form, submit } = authForm({
    title: "Forgot your password?",
    help: "Enter your account's email: we send a link to choose a new password (valid 30 minutes).",
    fields: [field("Email", email)],
    submitLabel: "Send the link",
    below: h("p", { class: "switch" }, h("a", { href: "/login", "data-route": true, text: "Back to sign in" })),
  });
  onSubmit(form, submit, async () => {
    const answer = await api("POST", "/api/v1/auth/password-reset", { email: email.value.trim() }, { auth: false });
    done(main, "Check your email", answer.message);
  });
  replace(main, h("section", { class: "auth" }, form));
  email.focus();
}

function reset(main, token) {
  if (!token) {
    done(main, "Reset your password", "This page needs the link from the reset email.", { href: "/forgot", text: "Ask for a new link" });
    return;
  }
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password", required: true, minlength: 8 });
  const { form, submit } = authForm({
    title: "Choose a new password",
    fields: [field("New password", password, "At least 8 characters. Every session of the account ends.")],
    submitLabel: "Set the new password",
  });
  onSubmit(form, submit, async () => {
    const answer = await api("POST", "/api/v1/auth/password-reset/confirm", { token, password: password.value }, { auth: false });
    forgetTokens(); // this tab's own session ended with the others
    done(main, "Password changed", answer.message);
  });
  replace(main, h("section", { class: "auth" }, form));
  password.focus();
}

async function verify(main, token) {
  try {
    if (!token) throw new ApiError(422, "invalid_token", "This page needs the link from the verification email.");
    const answer = await api("POST", "/api/v1/auth/verify-email", { token }, { auth: false });
    done(main, "Email confirmed", `${answer.user.email} is confirmed. Thank you.`, { href: "/sites", text: "Go to your sites" });
  } catch (error) {
    done(main, "Email not confirmed", error.message, { href: "/sites", text: "Go to your sites" });
  }
}

async function unsubscribe(main, values) {
  try {
    await api("POST", "/api/v1/reports/unsubscribe", { id: values.get("id") || "", key: values.get("key") || "" }, { auth: false });
    done(main, "Unsubscribed", "You will get no more of these reports. You can turn them on again on your account page.", { href: "/account", text: "Your account" });
  } catch (error) {
    done(main, "Not unsubscribed", error.message, { href: "/account", text: "Your account" });
  }
}

export async function render(main, params) {
  if (params.page === "forgot") return forgot(main);
  const values = takeFragment();
  if (params.page === "reset") return reset(main, values.get("token"));
  if (params.page === "verify") return verify(main, values.get("token"));
  return unsubscribe(main, values);
}
