// The Imports tab (site admins): bring history from Plausible CE (its CSV export zip), Umami (its
// website_event and session tables as CSV, zipped) or Eddy's own export. The file uploads with a progress
// bar, then the import's progress (rows read, imported, already there, skipped) is followed until it ends
// with a summary: the days it covered and each skipped row with its line and reason. Past imports are
// listed below.

import { get, upload } from "../api.js";
import { h, replace, empty, errorBox, field, fmtNumber, fmtTime, table } from "../dom.js";
import { isReadable } from "../errors.js";

const KINDS = [
  ["plausible", "Plausible CE export", "The .zip Plausible CE exports (its imported_*.csv daily tables)."],
  ["umami", "Umami tables", "A .zip holding Umami's website_event.csv and session.csv, as exported from its database."],
  ["eddy", "Eddy export", "A file from Export JSON or Export CSV on an Eddy dashboard."],
];
const POLL_MS = 1000;
const STATUS_TEXT = { running: "Running", done: "Done", failed: "Failed", replaced: "Replaced by a later import" };
const PHASE_TEXT = { reading: "Reading and checking the file…", writing: "Writing the history…", finished: "Finished" };

function kindLabel(kind) {
  return KINDS.find(([value]) => value === kind)?.[1] || kind;
}

/** What an import took and skipped, in words. */
function countsText(job) {
  return [
    `${fmtNumber(job.rows_read)} rows read`,
    `${fmtNumber(job.rows_imported)} imported`,
    `${fmtNumber(job.rows_duplicate)} already there`,
    `${fmtNumber(job.rows_skipped)} skipped`,
  ].join(" · ");
}

/** The progress or the summary of one import. */
function jobView(job) {
  const parts = [h("p", { class: "import-counts", "data-testid": "import-counts", text: countsText(job) })];
  if (job.status === "running") {
    parts.unshift(h("p", { class: "import-phase", role: "status", text: PHASE_TEXT[job.phase] || "Working…" }), h("progress", { "aria-label": "Import progress" }));
  } else if (job.status === "failed") {
    parts.unshift(errorBox({ message: isReadable(job.message) ? job.message : "The import failed. Nothing of it was kept." }));
  } else {
    const summary = job.summary || {};
    const span = summary.first_day ? `History from ${summary.first_day} to ${summary.last_day} (${fmtNumber(summary.days)} days).` : "The file held no history.";
    parts.unshift(h("p", { class: "import-done", role: "status", text: `${STATUS_TEXT[job.status] || job.status}. ${span}` }));
  }
  const errors = job.errors || [];
  if (errors.length) {
    parts.push(
      h("h4", { text: job.rows_skipped > errors.length ? `Skipped rows (the first ${errors.length} of ${fmtNumber(job.rows_skipped)})` : "Skipped rows" }),
      h(
        "ul",
        { class: "import-errors", "data-testid": "import-errors" },
        errors.map((error) => h("li", { text: `Line ${fmtNumber(error.line)}: ${isReadable(error.message) ? error.message : "this row could not be read."}` })),
      ),
    );
  }
  return h("div", { class: "import-job", "data-status": job.status }, parts);
}

export function render(body, site) {
  const base = `/api/v1/sites/${encodeURIComponent(site.id)}/imports`;
  const kind = h("select", { name: "kind" }, KINDS.map(([value, label]) => h("option", { value, text: label })));
  const kindField = field("What the file is", kind, KINDS[0][2]);
  const hint = kindField.querySelector(".hint");
  const file = h("input", { type: "file", name: "file", accept: ".zip,.csv,.json" });
  const submit = h("button", { type: "submit", text: "Import" });
  const progress = h("div", { class: "import-progress", "data-testid": "import-progress" });
  const history = h("div", { class: "import-list" });
  const form = h(
    "form",
    { class: "card import-form", novalidate: true },
    kindField,
    field("File", file, "Large files are fine: they are read as they arrive, never held whole in memory."),
    h("div", { class: "actions" }, submit),
    progress,
  );
  const showHint = () => (hint.textContent = KINDS.find(([value]) => value === kind.value)?.[2] || "");
  kind.addEventListener("change", showHint);
  showHint();
  let alive = true;
  let timer = null;

  async function loadList() {
    try {
      const answer = await get(base);
      const jobs = answer?.imports || [];
      replace(
        history,
        jobs.length
          ? table(
              [
                { label: "Started", value: (job) => fmtTime(job.created_at * 1000) },
                { label: "From", value: (job) => kindLabel(job.kind) },
                { label: "Status", value: (job) => STATUS_TEXT[job.status] || job.status },
                { label: "Imported", numeric: true, value: (job) => fmtNumber(job.rows_imported) },
                { label: "Skipped", numeric: true, value: (job) => fmtNumber(job.rows_skipped) },
              ],
              jobs,
              "Past imports",
            )
          : empty("No imports yet."),
      );
    } catch (error) {
      replace(history, errorBox(error));
    }
  }

  async function follow(id) {
    if (!alive) return;
    try {
      const answer = await get(`${base}/${encodeURIComponent(id)}`);
      const job = answer?.import || answer;
      if (!alive) return;
      replace(progress, jobView(job));
      if (job.status === "running") timer = setTimeout(() => follow(id), POLL_MS);
      else {
        submit.disabled = false;
        loadList();
      }
    } catch (error) {
      replace(progress, errorBox(error));
      submit.disabled = false;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) {
      replace(progress, errorBox({ message: "Choose the file to import first." }));
      return;
    }
    submit.disabled = true;
    const bar = h("progress", { max: Math.max(1, chosen.size), value: 0, "aria-label": "Upload progress" });
    const said = h("span", { class: "muted", text: "Uploading…" });
    replace(progress, h("p", {}, said), bar);
    try {
      const answer = await upload(`${base}?kind=${encodeURIComponent(kind.value)}`, chosen, (sent, total) => {
        bar.max = Math.max(1, total);
        bar.value = sent;
        said.textContent = `Uploading… ${Math.floor((100 * sent) / Math.max(1, total))}%`;
      });
      follow((answer?.import || answer).id);
    } catch (error) {
      replace(progress, errorBox(error));
      submit.disabled = false;
    }
  });

  replace(body, h("h2", { text: "Import history" }), form, h("section", { class: "card" }, h("h3", { text: "Past imports" }), history));
  loadList();
  return () => {
    alive = false;
    clearTimeout(timer);
  };
}
