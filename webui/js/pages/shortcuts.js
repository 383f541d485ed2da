// Keyboard shortcuts of a page, with a "?" overlay that lists them. Keys typed into a form field, or
// with Ctrl, Alt or Meta held, are left alone.

import { h } from "../dom.js";

const KEY_NAMES = { ArrowLeft: "←", ArrowRight: "→" };

function typing(target) {
  return Boolean(target?.closest?.("input, textarea, select, [contenteditable], dialog"));
}

/** Listen for `bindings` ({key: [description, action]}); returns {showHelp, destroy}. */
export function shortcuts(bindings) {
  let overlay = null;
  function showHelp() {
    if (overlay) return;
    const close = h("button", { type: "button", class: "secondary", text: "Close" });
    overlay = h(
      "dialog",
      { class: "shortcuts", "aria-label": "Keyboard shortcuts", "data-testid": "shortcuts" },
      h("h2", { text: "Keyboard shortcuts" }),
      h(
        "dl",
        {},
        Object.entries(bindings).map(([key, [description]]) => [h("dt", {}, h("kbd", { text: KEY_NAMES[key] || key })), h("dd", { text: description })]),
        h("dt", {}, h("kbd", { text: "?" })),
        h("dd", { text: "This list" }),
      ),
      h("div", { class: "actions" }, close),
    );
    close.addEventListener("click", () => overlay.close());
    overlay.addEventListener("close", () => {
      overlay.remove();
      overlay = null;
    });
    document.body.append(overlay);
    overlay.showModal();
    close.focus();
  }
  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey || typing(event.target)) return;
    if (event.key === "?") {
      event.preventDefault();
      showHelp();
      return;
    }
    const binding = Object.hasOwn(bindings, event.key) ? bindings[event.key] : null;
    if (!binding) return;
    event.preventDefault();
    binding[1]();
  }
  document.addEventListener("keydown", onKey);
  return {
    showHelp,
    destroy() {
      document.removeEventListener("keydown", onKey);
      if (overlay) overlay.close();
    },
  };
}
