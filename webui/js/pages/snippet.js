// The snippet builder: pick a public key and the tracker's options, get the <script> snippet to paste
// (built by the server), copy it with one click. The snippet is shown as text, never inserted as markup.

import { get, post, items } from "../api.js";
import { h, replace, field, loading, empty, errorBox, copyButton, showFormError, clearFormError, select } from "../dom.js";
import { installationCheck } from "./install.js";

function checkbox(name, label, checked) {
  const input = h("input", { type: "checkbox", name, id: `opt-${name}`, checked });
  return h("label", { class: "check", for: `opt-${name}` }, input, h("span", { text: label }));
}

export async function render(body, site) {
  const base = `/api/v1/sites/${encodeURIComponent(site.id)}`;
  replace(body, h("h2", { text: "Tracking snippet" }), loading());
  let keys;
  let metrics = [];
  try {
    keys = items(await get(`${base}/keys`), "keys").filter((k) => k.kind === "public" && k.active);
    try {
      metrics = items(await get(`${base}/metrics`), "metrics", "metric_configs");
    } catch {
      metrics = [];
    }
  } catch (error) {
    replace(body, h("h2", { text: "Tracking snippet" }), errorBox(error));
    return;
  }
  if (!keys.length) {
    // Only admins may create keys: a viewer is told whom to ask instead of a button that would fail.
    const mayCreate = !site.role || site.role === "owner" || site.role === "admin";
    replace(
      body,
      h("h2", { text: "Tracking snippet" }),
      empty("The snippet needs an active public key."),
      mayCreate
        ? h("p", {}, h("a", { class: "button", href: `/sites/${encodeURIComponent(site.id)}/keys`, "data-route": true, text: "Create a public key" }))
        : h("p", { class: "muted", text: "Ask an owner or admin of this site to create a public key." }),
    );
    return;
  }
  const key = h("select", { name: "key_id" }, keys.map((k) => h("option", { value: k.id, text: `${k.name} (${k.prefix || k.kind})` })));
  const transport = select("transport", [
    ["auto", "Auto: websocket, then beacons"],
    ["websocket", "Websocket only"],
    ["beacon", "Beacons only (HTTP)"],
  ]);
  const spa = select("spa", [
    ["history", "History API (pushState)"],
    ["hash", "Hash routes (#/page)"],
    ["off", "Off: full page loads only"],
  ]);
  const batchSize = h("input", { type: "number", name: "batch_size", min: 1, max: 100, placeholder: "10" });
  const interval = h("input", { type: "number", name: "batch_interval_ms", min: 100, max: 60000, step: 100, placeholder: "1000" });
  const metricBoxes = metrics.map((m) => {
    const input = h("input", { type: "checkbox", name: "metric", value: m.name, id: `metric-${m.id}` });
    return h("label", { class: "check", for: `metric-${m.id}` }, input, h("span", { text: `${m.name} (${m.type})` }));
  });
  const output = h("textarea", { class: "snippet-output", readonly: true, rows: 6, "aria-label": "Snippet", "data-testid": "snippet" });
  const outputArea = h("div", { class: "snippet-result" });
  outputArea.hidden = true;
  const form = h(
    "form",
    { class: "card snippet-form", novalidate: true },
    field("Public key", key),
    field("Transport", transport),
    field("Single-page app navigation", spa),
    h(
      "fieldset",
      {},
      h("legend", { text: "Track" }),
      checkbox("auto_pageviews", "Page views automatically", true),
      checkbox("outbound_links", "Clicks on outbound links", true),
      checkbox("downloads", "File downloads", true),
      checkbox("custom_events", "Custom events (eddy('event', {...}))", true),
      checkbox("respect_dnt", "Respect Do Not Track", true),
    ),
    h(
      "fieldset",
      {},
      h("legend", { text: "Testing" }),
      checkbox("allow_localhost", "Also track on localhost", false),
      checkbox("allow_automated", "Also track automated browsers", false),
    ),
    h(
      "fieldset",
      {},
      h("legend", { text: "Security" }),
      checkbox("integrity", "Pin this tracker build with Subresource Integrity", false),
      h("p", { class: "hint", text: "The browser then runs only this exact build: build a new snippet after each Eddy upgrade, or tracking stops." }),
    ),
    metricBoxes.length ? h("fieldset", {}, h("legend", { text: "Metrics to pre-declare" }), metricBoxes) : null,
    h("div", { class: "two-col" }, field("Batch size", batchSize, "Events sent together (default 10)."), field("Flush interval (ms)", interval, "Longest wait before sending (default 1000).")),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Build snippet" })),
  );

  replace(
      outputArea,
      h("h3", { text: "Paste this into every page, before </head>" }),
      output,
      h("div", { class: "actions" }, copyButton(() => output.value, "Copy snippet")),
  );

  async function build() {
    clearFormError(form);
    const data = new FormData(form);
    const options = {
      spa: spa.value,
      auto_pageviews: data.has("auto_pageviews"),
      outbound_links: data.has("outbound_links"),
      downloads: data.has("downloads"),
      custom_events: data.has("custom_events"),
      respect_dnt: data.has("respect_dnt"),
      allow_localhost: data.has("allow_localhost"),
      allow_automated: data.has("allow_automated"),
    };
    const metricNames = data.getAll("metric");
    if (metricNames.length) options.metrics = metricNames;
    if (batchSize.value) options.batch_size = Number(batchSize.value);
    if (interval.value) options.batch_interval_ms = Number(interval.value);
    const payload = { key_id: key.value, transport: transport.value, options, integrity: data.has("integrity") };
    try {
      const answer = await post(`${base}/snippet`, payload);
      output.value = answer.snippet || "";
      outputArea.hidden = false;
      return true;
    } catch (error) {
      showFormError(form, error);
      return false;
    }
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await build()) {
      output.focus();
      output.select();
    }
  });
  // The snippet with the default options comes first; the options below rebuild it.
  replace(
    body,
    h("h2", { text: "Tracking snippet" }),
    outputArea,
    installationCheck(site.id),
    h("h3", { text: "Options" }),
    form,
  );
  await build();
}
