// /account: the signed-in person's email (verification, change), password, two-factor sign-in and email
// report choices. Changes of email, password and two-factor ask for the current password (and a code when
// two-factor sign-in is on).

import { get, post, api, acceptTokens, session, items } from "../api.js";
import { h, field, replace, loading, errorBox, flash, table, onSubmit as whenSubmitted } from "../dom.js";

function passwordInput(name, autocomplete = "current-password") {
  return h("input", { type: "password", name, autocomplete, required: true, maxlength: 1024 });
}

function codeInput() {
  return h("input", { type: "text", name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 64 });
}

function form(title, fields, label, onSubmit) {
  const submit = h("button", { type: "submit", text: label });
  const el = h("form", { class: "card", novalidate: true }, h("h2", { text: title }), ...fields, h("div", { class: "actions" }, submit));
  whenSubmitted(el, submit, () => onSubmit(el));
  return el;
}

function emailSection(user, instance) {
  const status = user.email_verified ? "confirmed" : "not confirmed yet";
  const parts = [h("p", {}, "Your email: ", h("strong", { text: user.email }), ` (${status}).`)];
  if (!instance.mail) {
    parts.push(h("p", { class: "muted", text: "This server cannot send email, so addresses cannot be confirmed or changed here." }));
    return h("section", { class: "card", "aria-label": "Email" }, h("h2", { text: "Email" }), parts);
  }
  if (!user.email_verified) {
    const resend = h("button", { type: "button", class: "secondary", text: "Send the confirmation link again" });
    resend.addEventListener("click", async () => {
      try {
        flash((await post("/api/v1/auth/verify-email/resend")).message, "ok");
      } catch (error) {
        flash(error.message, "error");
      }
    });
    parts.push(resend);
  }
  const email = h("input", { type: "email", name: "email", required: true, maxlength: 254, autocomplete: "email" });
  const current = passwordInput("current_password");
  const code = codeInput();
  const change = form(
    "Change your email",
    [field("New email", email, "We send a link there; the change applies when you open it."), field("Current password", current), user.two_factor ? field("Authenticator code", code) : null],
    "Send the link",
    async (el) => {
      const body = { email: email.value.trim(), current_password: current.value };
      if (user.two_factor) body.code = code.value.trim();
      const answer = await post("/api/v1/auth/email", body);
      el.reset();
      flash(answer.message, "ok");
    },
  );
  return h("section", { "aria-label": "Email" }, h("div", { class: "card" }, h("h2", { text: "Email" }), parts), change);
}

function passwordSection(user) {
  const current = passwordInput("current_password");
  const next = passwordInput("new_password", "new-password");
  const code = codeInput();
  return form(
    "Password",
    [field("Current password", current), field("New password", next, "At least 8 characters. Your other sessions end."), user.two_factor ? field("Authenticator code", code) : null],
    "Change password",
    async (el) => {
      const body = { current_password: current.value, new_password: next.value };
      if (user.two_factor) body.code = code.value.trim();
      acceptTokens(await post("/api/v1/auth/password", body));
      el.reset();
      flash("Password changed; your other sessions have ended.", "ok");
    },
  );
}

function recoveryList(codes) {
  return h(
    "div",
    { class: "recovery-codes", role: "status" },
    h("p", { text: "Recovery codes: keep them somewhere safe. Each works once in place of a code. They are shown only now." }),
    h("ul", {}, codes.map((code) => h("li", {}, h("code", { text: code })))),
  );
}

function twoFactorSection(user, rerender) {
  const box = h("section", { class: "card two-factor", "aria-label": "Two-factor sign-in" }, h("h2", { text: "Two-factor sign-in" }));
  if (user.two_factor) {
    const current = passwordInput("current_password");
    const code = codeInput();
    const result = h("div");
    const regenerate = h("button", { type: "button", class: "secondary", text: "New recovery codes" });
    regenerate.addEventListener("click", async () => {
      try {
        const answer = await post("/api/v1/auth/2fa/recovery-codes", { current_password: current.value, code: code.value.trim() });
        replace(result, recoveryList(answer.recovery_codes));
      } catch (error) {
        replace(result, errorBox(error));
      }
    });
    const off = form(
      "Turn it off",
      [h("p", { text: "It is on: signing in asks for a code from your authenticator app." }), field("Current password", current), field("Authenticator or recovery code", code)],
      "Turn off two-factor sign-in",
      async () => {
        await api("POST", "/api/v1/auth/2fa/disable", { current_password: current.value, code: code.value.trim() });
        flash("Two-factor sign-in is off.", "ok");
        await rerender();
      },
    );
    off.querySelector(".actions").append(regenerate);
    box.append(off, result);
    return box;
  }
  const current = passwordInput("current_password");
  const start = form(
    "Set it up",
    [h("p", { text: "Sign-in then also asks for a code from an authenticator app on your phone." }), field("Current password", current)],
    "Set up two-factor sign-in",
    async () => {
      const setup = await post("/api/v1/auth/2fa/setup", { current_password: current.value });
      const code = h("input", { type: "text", name: "code", inputmode: "numeric", autocomplete: "one-time-code", required: true, maxlength: 6 });
      const confirm = form(
        "Scan, then enter a code",
        [
          h("img", { class: "qr", src: setup.qr_svg_data_uri, alt: "QR code for your authenticator app", width: 200, height: 200 }),
          h("p", {}, "Or type this key: ", h("code", { class: "secret", text: setup.secret })),
          field("Code from the app", code),
        ],
        "Turn on",
        async () => {
          const answer = await post("/api/v1/auth/2fa/enable", { code: code.value.trim() });
          session.user = { ...session.user, two_factor: true };
          replace(box, h("h2", { text: "Two-factor sign-in" }), h("p", { text: "Two-factor sign-in is on." }), recoveryList(answer.recovery_codes));
        },
      );
      replace(box, h("h2", { text: "Two-factor sign-in" }), confirm);
      code.focus();
    },
  );
  box.append(start);
  return box;
}

async function reportsSection(instance) {
  const box = h("section", { class: "card reports", "aria-label": "Email reports" }, h("h2", { text: "Email reports" }));
  if (!instance.mail) {
    box.append(h("p", { class: "muted", text: "This server cannot send email, so there are no email reports." }));
    return box;
  }
  const rows = items(await get("/api/v1/account/reports"), "subscriptions");
  if (!rows.length) {
    box.append(h("p", { class: "muted", text: "No sites yet." }));
    return box;
  }
  const toggle = (row, kind) => {
    const input = h("input", { type: "checkbox", checked: row[kind], "aria-label": `${kind} report of ${row.site_name}` });
    input.addEventListener("change", async () => {
      const next = { weekly: row.weekly, monthly: row.monthly, [kind]: input.checked };
      try {
        Object.assign(row, await api("PUT", `/api/v1/sites/${encodeURIComponent(row.site_id)}/reports`, next));
        flash("Report choices saved.", "ok");
      } catch (error) {
        input.checked = row[kind];
        flash(error.message, "error");
      }
    });
    return input;
  };
  box.append(
    h("p", { text: "Weekly reports come on Monday morning, monthly ones on the 1st, in each site's timezone." }),
    table(
      [
        { label: "Site", value: (r) => r.site_name },
        { label: "Weekly", value: (r) => toggle(r, "weekly") },
        { label: "Monthly", value: (r) => toggle(r, "monthly") },
      ],
      rows,
      "Email reports",
    ),
  );
  return box;
}

export async function render(main) {
  replace(main, loading());
  const rerender = () => render(main);
  const [me, instance] = await Promise.all([get("/api/v1/auth/me"), get("/api/v1/instance", { auth: false })]);
  const user = me.user;
  session.user = user;
  replace(
    main,
    h("h1", { text: "Your account" }),
    emailSection(user, instance),
    user.has_password ? passwordSection(user) : h("p", { class: "card muted", text: "This account signs in with Google and has no password. Use “Forgot your password?” on the sign-in page to set one." }),
    user.has_password ? twoFactorSection(user, rerender) : null,
    await reportsSection(instance),
  );
}
