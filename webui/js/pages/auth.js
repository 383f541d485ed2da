// Sign in and sign up. A "Continue with Google" button appears when Eddy has Google sign-in configured.
// Google's callback lands on /login#google=<one-time code> (or #google_error=<code>): the fragment is
// cleared from the address bar at once, and the code is spent for the same answer a password login gives.

import { acceptTokens, ApiError, api } from "../api.js";
import { h, field, replace, showFormError, clearFormError } from "../dom.js";

/** Whether Google sign-in is configured (GET /api/v1/auth/providers). */
async function googleEnabled() {
  try {
    const answer = await api("GET", "/api/v1/auth/providers", null, { auth: false });
    return answer?.google === true;
  } catch {
    return false;
  }
}

const GOOGLE_ERRORS = {
  google_denied: "Google sign-in was cancelled.",
  google_unverified: "Google did not confirm this account's email address, so it cannot sign in to Eddy.",
  google_mismatch: "This email is already linked to a different Google account.",
  google_link_unverified:
    "An Eddy account with this email exists but its address was never confirmed. Sign in with its password and confirm the address (or reset the password) first.",
  two_factor_required: "This account uses two-factor sign-in: sign in with its password and code.",
  invalid_state: "That Google sign-in expired or was already used. Please try again.",
  google_failed: "Google did not accept this sign-in. Please try again.",
};

/** The Google outcome in the address bar's fragment, removed from the address bar (and history) at once. */
function takeGoogleHandoff() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const code = fragment.get("google");
  const error = fragment.get("google_error");
  if (code === null && error === null) return null;
  history.replaceState(history.state, "", location.pathname + location.search);
  if (code) return { code };
  const known = GOOGLE_ERRORS[error];
  return { error: new ApiError(401, "google_error", known || "Google sign-in failed. Please try again.") };
}

/** The page to open once signed in (app.js keeps it in `?next=`). */
async function nextPage() {
  return (await import("../app.js")).afterSignIn();
}

export async function render(main, params, { navigate }) {
  const isLogin = params.page === "login";
  const handoff = isLogin ? takeGoogleHandoff() : null;
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true, maxlength: 254 });
  const password = h("input", {
    type: "password",
    name: "password",
    autocomplete: isLogin ? "current-password" : "new-password",
    required: true,
    minlength: isLogin ? null : 8,
  });
  const name = isLogin ? null : h("input", { type: "text", name: "name", autocomplete: "name", maxlength: 100 });
  // Shown once the server says the account needs a second factor.
  const code = isLogin ? h("input", { type: "text", name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 64 }) : null;
  const codeField = code ? field("Code from your authenticator app (or a recovery code)", code) : null;
  if (codeField) codeField.hidden = true;
  const submit = h("button", { type: "submit", text: isLogin ? "Sign in" : "Create account" });
  const form = h(
    "form",
    { class: ["card auth-form", isLogin ? "login-form" : "register-form"], novalidate: true, "aria-labelledby": "auth-title" },
    h("h1", { id: "auth-title", text: isLogin ? "Sign in to Eddy" : "Create your Eddy account" }),
    name ? field("Name (optional)", name) : null,
    field("Email", email),
    field("Password", password, isLogin ? null : "At least 8 characters."),
    codeField,
    h("div", { class: "actions" }, submit),
    isLogin ? h("p", { class: "switch" }, h("a", { href: "/forgot", "data-route": true, text: "Forgot your password?" })) : null,
    h(
      "p",
      { class: "switch" },
      isLogin ? "No account yet? " : "Already have an account? ",
      h("a", { href: (isLogin ? "/register" : "/login") + location.search, "data-route": true, text: isLogin ? "Sign up" : "Sign in" }),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormError(form);
    if (!email.value.trim() || !password.value) {
      showFormError(form, new ApiError(422, "validation_failed", "Enter your email and password.", {
        ...(email.value.trim() ? {} : { email: "required" }),
        ...(password.value ? {} : { password: "required" }),
      }));
      return;
    }
    submit.disabled = true;
    submit.textContent = isLogin ? "Signing in…" : "Creating account…";
    const body = { email: email.value.trim(), password: password.value };
    if (name && name.value.trim()) body.name = name.value.trim();
    if (code && code.value.trim()) body.code = code.value.trim();
    try {
      const answer = await api("POST", isLogin ? "/api/v1/auth/login" : "/api/v1/auth/register", body, { auth: false });
      if (!answer.access_token) {
        // Sign-up taken in (202): what comes next is in the mail.
        replace(main, h("section", { class: "auth" }, h("div", { class: "card auth-form" }, h("h1", { text: "Check your email" }), h("p", { class: "done", role: "status", text: answer.message }), h("p", {}, h("a", { href: "/login", "data-route": true, text: "Sign in" })))));
        return;
      }
      acceptTokens(answer);
      navigate(await nextPage(), { replace: true });
    } catch (error) {
      if (codeField && error instanceof ApiError && error.code === "two_factor_required") {
        codeField.hidden = false;
        code.focus();
      }
      showFormError(form, error);
      submit.disabled = false;
      submit.textContent = isLogin ? "Sign in" : "Create account";
    }
  });
  replace(main, h("section", { class: "auth" }, form));
  email.focus();
  if (handoff?.error) showFormError(form, handoff.error);
  if (handoff?.code) {
    submit.disabled = true;
    submit.textContent = "Signing in with Google…";
    try {
      const answer = await api("POST", "/api/v1/auth/google/exchange", { code: handoff.code }, { auth: false });
      acceptTokens(answer);
      navigate(await nextPage(), { replace: true });
      return;
    } catch (error) {
      const expired = error instanceof ApiError && error.code === "invalid_code";
      showFormError(form, expired ? new ApiError(401, "invalid_code", "That Google sign-in expired. Please try again.") : error);
      submit.disabled = false;
      submit.textContent = "Sign in";
    }
  }
  const google = await googleEnabled();
  if (google) {
    const button = h("a", { class: "button secondary google", href: "/api/v1/auth/google", text: "Continue with Google" });
    form.querySelector(".actions").append(button);
  }
  form.dataset.google = google ? "on" : "off";
}
