import { humanError } from "./errors.js";

// DOM helpers. Every string that reaches the page goes in as a text node or an attribute value set
// through the DOM: nothing here parses markup, so data (URLs, referrers, props) can never become HTML.

const SAFE_SCHEMES = new Set(["http:", "https:"]);

/** Build an element. `attrs`: class, text, on<Event> (functions only), data-*, aria-*, and plain
 *  attributes; `href` goes through safeHref and a `style` attribute is refused (CSP forbids it). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (name === "text") el.textContent = String(value);
    else if (name.startsWith("on")) {
      if (typeof value !== "function") throw new TypeError(`${name} must be a function`);
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "style") throw new TypeError("inline style attributes are not allowed");
    else if (name === "href") {
      const href = internalHref(value);
      if (href) el.setAttribute("href", href);
    } else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

/** Append children: strings and numbers as text nodes, nodes as they are, arrays flattened. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Remove every child, then append the new ones. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** App-internal hrefs only: a path on this origin ("/sites/..") or a fragment. */
function internalHref(value) {
  const text = String(value);
  if (text.startsWith("#") || (text.startsWith("/") && !text.startsWith("//"))) return text;
  return safeUrl(text);
}

/** An absolute http(s) URL as a normalised string, or null for any other scheme (script, data...). */
export function safeUrl(value) {
  if (typeof value !== "string" || value.length > 2048) return null;
  let url;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  return SAFE_SCHEMES.has(url.protocol) ? url.href : null;
}

/** A link to a user-supplied URL when it is http(s), else the text alone. */
export function externalLink(url, label) {
  const text = label ?? url ?? "";
  const href = safeUrl(url);
  if (!href) return h("span", { class: "url", text });
  return h("a", { href, class: "url", rel: "noopener noreferrer nofollow", target: "_blank", text });
}

/** The path (and query) of a URL for compact display; the raw text when it does not parse. */
export function shortPath(value) {
  if (typeof value !== "string" || !value) return "";
  try {
    const url = new URL(value);
    if (SAFE_SCHEMES.has(url.protocol)) return url.pathname + url.search;
  } catch {
    // not a URL: show it as it is
  }
  return value;
}

const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

/** A number for display (1,234.5); a dash for missing values. */
export function fmtNumber(value) {
  return typeof value === "number" && Number.isFinite(value) ? numberFormat.format(value) : "—";
}

/** A percentage (0..100, as the stats API answers them) as "42%". */
export function fmtPercent(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  return `${numberFormat.format(value)}%`;
}

let regionNames = null;
/** A country's name from its ISO code (the browser's own list), the code itself when it knows none. */
export function countryName(code) {
  if (!/^[A-Z]{2}$/.test(code || "")) return code || "";
  try {
    regionNames ||= new Intl.DisplayNames(undefined, { type: "region" });
    return regionNames.of(code) || code;
  } catch {
    return code;
  }
}

/** Seconds as "1m 05s". */
export function fmtDuration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** Epoch seconds or milliseconds, or an ISO string, as a local date and time. */
export function fmtTime(value) {
  if (value === null || value === undefined || value === "") return "—";
  let ms = value;
  if (typeof value === "number") ms = value < 1e12 ? value * 1000 : value;
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

/** A label + control pair for forms (the label is always tied to its control). */
let fieldCounter = 0;
export function field(labelText, control, hint) {
  if (!control.id) control.id = `f${++fieldCounter}`;
  const hintEl = hint ? h("small", { class: "hint", id: `${control.id}-hint`, text: hint }) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: control.id, text: labelText }), control, hintEl);
}

/** A standard loading placeholder. */
export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status", text });
}

/** An empty-state box. */
export function empty(text) {
  return h("p", { class: "empty", text });
}

/** An error box for an ApiError (or any Error): a sentence, and a sentence per refused field (never the
 *  API's field paths or schema text; see errors.js). */
export function errorBox(error, form = "") {
  const { message, fields } = humanError(error, form);
  const box = h("div", { class: "error", role: "alert" });
  box.append(h("p", { text: message }));
  const sentences = [...new Set(Object.values(fields))];
  if (sentences.length) box.append(h("ul", {}, sentences.map((text) => h("li", { text }))));
  return box;
}

/** The kind of a form whose field sentences differ from the defaults (metric, key, site). */
function formKind(form) {
  return /\b(metric|key|site|login)-form\b/.exec(form.className || "")?.[1] || "";
}

/** A <select> named `name` with one option per [value, label] pair of `choices`. */
export function select(name, choices) {
  return h("select", { name }, choices.map(([value, text]) => h("option", { value, text })));
}

/** Show each refused field's sentence under its input (`name` attributes) and a summary at the top of
 *  the form; refusals of fields the form does not show are listed in the summary. */
export function showFormError(form, error) {
  for (const old of form.querySelectorAll(".field-error")) old.remove();
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  const kind = formKind(form);
  const { message, fields } = humanError(error, kind);
  const unplaced = [];
  let first = null;
  for (const [name, text] of Object.entries(fields)) {
    const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (!input) {
      unplaced.push(text);
      continue;
    }
    const note = h("small", { class: "field-error", id: `${input.id || name}-error`, text });
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-errormessage", note.id);
    input.insertAdjacentElement("afterend", note);
    first ||= input;
  }
  const summary = form.querySelector(".form-error") || h("div", { class: "form-error" });
  const box = h("div", { class: "error", role: "alert" }, h("p", { text: message }));
  if (unplaced.length) box.append(h("ul", {}, unplaced.map((text) => h("li", { text }))));
  replace(summary, box);
  form.prepend(summary);
  if (first && !form.contains(document.activeElement)) first.focus();
}

/** Clear a form's error display. */
export function clearFormError(form) {
  for (const old of form.querySelectorAll(".field-error, .form-error")) old.remove();
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

/** Await `action` when `form` is submitted, with its old error cleared and `submit` disabled meanwhile;
 *  a refusal is shown on the form (`onError` sees it first). */
export function onSubmit(form, submit, action, onError) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormError(form);
    submit.disabled = true;
    try {
      await action();
    } catch (error) {
      onError?.(error);
      showFormError(form, error);
    } finally {
      submit.disabled = false;
    }
  });
}

/** Copy text to the clipboard, falling back to selecting it in a hidden textarea. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h("textarea", { class: "offscreen", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

/** A button that copies `getText()` and says so. */
export function copyButton(getText, label = "Copy") {
  const button = h("button", { type: "button", class: "secondary", text: label });
  button.addEventListener("click", async () => {
    const ok = await copyText(getText());
    button.textContent = ok ? "Copied" : "Copy failed: select and copy by hand";
    setTimeout(() => (button.textContent = label), 2000);
  });
  return button;
}

/** A transient message at the top of the page. */
export function flash(message, kind = "info") {
  const box = document.getElementById("flash");
  if (!box) return;
  box.className = `flash ${kind}`;
  box.textContent = message;
  box.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => (box.hidden = true), 5000);
}

/** A table from column specs {label, value(row) -> string|Node, numeric, optional}. On phones a `stack`
 *  table turns each row into "label: value" lines; other tables keep their columns and drop the
 *  `optional` ones. */
export function table(columns, rows, caption, { stack = true } = {}) {
  const cls = (c) => [c.numeric ? "num" : null, c.optional ? "opt" : null];
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", class: cls(c), text: c.label })));
  const body = rows.map((row) =>
    h("tr", {}, columns.map((c) => h("td", { class: cls(c), "data-label": c.label || null }, c.value(row)))),
  );
  return watchOverflow(
    h(
      "div",
      { class: ["table-wrap", stack ? "stack" : null] },
      h("table", {}, caption ? h("caption", { class: "sr-only", text: caption }) : null, h("thead", {}, head), h("tbody", {}, body)),
    ),
  );
}

/** Mark a scrolling box `data-scrolls` while its content is wider than it (the CSS shows a cue). */
export function watchOverflow(box) {
  if (typeof ResizeObserver !== "function") return box;
  const check = () => {
    if (box.scrollWidth > box.clientWidth + 1) box.setAttribute("data-scrolls", "");
    else box.removeAttribute("data-scrolls");
  };
  new ResizeObserver(check).observe(box);
  return box;
}
