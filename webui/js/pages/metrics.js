// Metric configs of a site: the Prometheus metrics its pages may feed (name, type, help, labels, buckets).

import { post } from "../api.js";
import { h, replace, field, loading, empty, showFormError, clearFormError, flash, select } from "../dom.js";
import { loadList, deleteButton } from "./lists.js";

export async function render(body, site) {
  const base = `/api/v1/sites/${encodeURIComponent(site.id)}/metrics`;
  const listArea = h("div", {}, loading());
  const name = h("input", { type: "text", name: "name", required: true, maxlength: 100, placeholder: "checkout_duration_seconds", autocomplete: "off" });
  const type = select("type", ["counter", "gauge", "histogram", "summary"].map((t) => [t, t]));
  const help = h("input", { type: "text", name: "help", maxlength: 200, placeholder: "What it measures" });
  const labels = h("input", { type: "text", name: "labels", placeholder: "plan, region", autocomplete: "off" });
  const buckets = h("input", { type: "text", name: "buckets", placeholder: "0.1, 0.5, 1, 5", autocomplete: "off" });
  const bucketField = field("Buckets (histograms)", buckets, "Upper bounds, comma separated; empty for the defaults.");
  bucketField.hidden = true;
  type.addEventListener("change", () => (bucketField.hidden = type.value !== "histogram"));
  const form = h(
    "form",
    { class: "card metric-form", novalidate: true, "aria-labelledby": "new-metric-title" },
    h("h3", { id: "new-metric-title", text: "New metric" }),
    field("Name", name, "Letters, digits and underscores; Prometheus naming rules."),
    field("Type", type),
    field("Help", help),
    field("Labels", labels, "Label names, comma separated."),
    bucketField,
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Add metric" })),
  );
  const status = h("div", {});

  async function deleted() {
    flash("Metric deleted.", "ok");
    await load();
  }

  async function load() {
    await loadList(listArea, base, ["metrics", "metric_configs"], {
      columns: [
        { label: "Name", value: (m) => h("code", { text: m.name }) },
        { label: "Type", value: (m) => m.type },
        { label: "Help", value: (m) => m.help || "" },
        { label: "Labels", value: (m) => (m.labels || []).join(", ") },
        {
          label: "",
          value: (m) =>
            deleteButton(`${base}/${encodeURIComponent(m.id)}`, { text: "Delete", "aria-label": `Delete ${m.name}` }, { confirm: `Delete the metric ${m.name}?`, done: deleted, status }),
        },
      ],
      caption: "Metric configs",
      none: empty("No metrics yet. Declare one to receive samples from your pages or servers."),
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormError(form);
    const split = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);
    const payload = { name: name.value.trim(), type: type.value, help: help.value.trim(), labels: split(labels.value) };
    if (type.value === "histogram" && buckets.value.trim()) payload.buckets = split(buckets.value).map(Number);
    try {
      await post(base, payload);
      form.reset();
      bucketField.hidden = true;
      flash("Metric added.", "ok");
      await load();
    } catch (error) {
      showFormError(form, error);
    }
  });
  replace(body, h("h2", { text: "Metrics" }), status, listArea, form);
  await load();
}
