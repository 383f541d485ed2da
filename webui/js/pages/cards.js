// Building blocks of the pages opened from mailed links and the other sign-in style pages: the
// parameters of the address's fragment (read once, then removed), and a centred form card.

import { h } from "../dom.js";

/** The fragment's parameters, cleared from the address bar (and history): a token never stays there. */
export function takeFragment() {
  const values = new URLSearchParams(location.hash.slice(1));
  if (location.hash) history.replaceState(history.state, "", location.pathname);
  return values;
}

/** A centred form card: its title, a line of help (when given), the fields, the submit button and what
 *  goes below it. The form and its button, for `onSubmit`. */
export function authForm({ title, help, fields, submitLabel, below = null }) {
  const submit = h("button", { type: "submit", text: submitLabel });
  const form = h(
    "form",
    { class: "card auth-form", novalidate: true },
    h("h1", { text: title }),
    help ? h("p", { text: help }) : null,
    fields,
    h("div", { class: "actions" }, submit),
    below,
  );
  return { form, submit };
}
