// Error answers as a person reads them. The API keeps machine codes and field paths
// (`{"code": "validation_failed", "fields": {"allowed_origins[0]": "Expected `str` matching regex ..."}}`);
// this module turns them into sentences tied to a form field ("Enter each origin like
// https://shop.example, without a path."). Whatever the API wrote, no regex, type name or JSON path
// reaches the page: known fields get their own sentence, other messages are kept only when they read
// as plain words. No DOM here: node's test runner imports this module as it is.

// A sentence per form field, for when the API refuses its value.
const FIELD_SENTENCES = {
  email: "Enter an email address like name@example.com.",
  password: "Use at least 8 characters for the password.",
  name: "Enter a name of at most 100 characters.",
  domain: "Enter the site's domain like shop.example, without https:// or a path.",
  allowed_origins: "Enter each origin like https://shop.example, one a line, without a path.",
  timezone: "Choose a timezone from the list, like Europe/Berlin.",
  retention_days: "Keep data between 1 and 3650 days.",
  kind: "Choose public or secret.",
  expires_in_days: "Enter a number of days between 1 and 3650, or leave it empty.",
  help: "Keep the help text under 300 characters.",
  labels: "Use label names of letters, digits and underscores, like plan or page (at most 10).",
  buckets: "Enter bucket bounds as numbers separated by commas, like 0.5, 1, 5.",
  type: "Choose a metric type.",
  batch_size: "Send between 1 and 100 events at a time.",
  batch_interval_ms: "Wait between 100 and 60000 milliseconds between batches.",
  key_id: "Choose a public key for the snippet.",
  role: "Choose viewer or admin.",
  steps: "Enter at least two steps, one a line: a path starting with / or an event name.",
  filters: "One of the filters cannot be used. Remove it and try again.",
  from: "Pick a start date between the years 2000 and 2100.",
  to: "Pick an end date at most 800 days after the start date.",
  tz: "The timezone is not known.",
  goals: "Enter each goal on a line of its own, once: a page starting with / (a * only at its end) or an event name of at most 64 characters.",
  currency: "Enter a currency as its three-letter code, like EUR or USD.",
  umami_alias: "Enter the Umami website id as it is in your snippet, like 0f8d5c2a-91b4-4e27-a7c3-5d6e7f809a1b.",
  compat: "Choose which other trackers this site takes.",
  pages: "Too many pages were asked for at once.",
};
// Fields holding a list of objects: a refusal of any part of them belongs to the whole field
// ("goals[2].page" is the goals box).
const LIST_FIELDS = new Set(["goals", "compat"]);
// Sentences for a field named in several forms, by the form's kind ("metric" names are not site names).
const FORM_SENTENCES = {
  metric: { name: "Use letters, digits, underscores and colons, starting with a letter, like checkout_seconds." },
  key: { name: "Give the key a name of 1 to 100 characters." },
  site: { name: "Give the site a name of 1 to 100 characters." },
  login: { email: "Enter the email address you signed up with.", password: "Enter your password." },
};
// What an error code means when the API's own message is not fit to show.
const CODE_SENTENCES = {
  validation_failed: "Some of what you entered needs a change.",
  bad_request: "Eddy could not read that request.",
  bad_filter: "Eddy could not read one of the filters. Remove it and add it again.",
  bad_json: "Eddy could not read that request.",
  unauthorized: "Your session has ended. Sign in again.",
  invalid_credentials: "The email or password is not right.",
  forbidden: "You do not have permission to do that.",
  not_found: "That was not found. It may have been deleted.",
  conflict: "That already exists.",
  email_taken: "An account with this email already exists. Sign in instead.",
  rate_limited: "Too many tries. Wait a moment and try again.",
  payload_too_large: "That is too much data at once.",
  unavailable: "Eddy is busy right now. Try again in a moment.",
  network: "Eddy could not be reached. Check your connection and try again.",
};
// Marks of machine text: msgspec types and paths, regexes, code spans, brackets.
const TECHNICAL = /`|\$\.|\$\b|\bExpected\b|\bregex\b|\bstr\b|\bint\b|\bfloat\b|\bbool\b|\bNone\b|\bnull\b|\[\d+\]|\\[sdwS]|\^|\{\d|Traceback|Error:/;

/** Whether a message reads as words a person can act on (no regex, type name or JSON path). */
export function isReadable(text) {
  return typeof text === "string" && text.length > 0 && text.length <= 200 && !TECHNICAL.test(text);
}

/** The form field a field path of the API belongs to: its last named part ("allowed_origins[0]" ->
 *  "allowed_origins", "options.batch_size" -> "batch_size", "$.email" -> "email"). */
export function fieldName(path) {
  const parts = String(path ?? "")
    .replace(/^\$\.?/, "")
    .replace(/\[[^\]]*\]/g, "")
    .split(".")
    .filter((part) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(part));
  if (LIST_FIELDS.has(parts[0])) return parts[0];
  return parts.length ? parts[parts.length - 1] : "";
}

function sentence(text) {
  const trimmed = text.trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** A sentence for a field's refusal: the form's or field's own, else one read from msgspec's words
 *  (length, range, missing), else the API's text when it is readable, else a plain request to check. */
export function fieldSentence(name, why, form = "") {
  const own = FORM_SENTENCES[form]?.[name] || FIELD_SENTENCES[name];
  const text = String(why ?? "");
  if (own) return own;
  const atLeast = /length >= (\d+)/.exec(text);
  if (atLeast) return `Use at least ${atLeast[1]} characters.`;
  const atMost = /length <= (\d+)/.exec(text);
  if (atMost) return `Use at most ${atMost[1]} characters.`;
  const ge = /`?int`? >= (-?\d+)/.exec(text);
  if (ge) return `Enter a number of at least ${ge[1]}.`;
  const le = /`?int`? <= (-?\d+)/.exec(text);
  if (le) return `Enter a number of at most ${le[1]}.`;
  if (/Expected `(int|float)`/.test(text)) return "Enter a number.";
  if (/missing required field|^required$/i.test(text)) return "This is required.";
  if (isReadable(text)) return sentence(text);
  return "Check this value.";
}

/** {message, fields: {formFieldName: sentence}} for an error (an ApiError or any Error). `form` picks
 *  sentences for fields whose meaning depends on the form (metric, key, site). */
export function humanError(error, form = "") {
  const fields = {};
  const raw = error?.fields && typeof error.fields === "object" ? error.fields : {};
  for (const [path, why] of Object.entries(raw)) {
    let name = fieldName(path);
    // "Object missing required field `email`" comes at the root: it belongs to that field.
    const missing = /missing required field `([A-Za-z_][A-Za-z0-9_]*)`/.exec(String(why ?? ""));
    if (missing) name = missing[1];
    if (!name || fields[name]) continue;
    fields[name] = fieldSentence(name, why, form);
  }
  const code = error?.code || "";
  let message = error?.message;
  const status = error?.status;
  if (!isReadable(message) || (code === "validation_failed" && Object.keys(fields).length)) {
    message = CODE_SENTENCES[code] || (status >= 500 ? "Something went wrong on Eddy's side. Try again in a moment." : "Something went wrong.");
  } else {
    message = sentence(message);
  }
  if (status === 429 && error?.retryAfter && !/Try again in/.test(message)) message += ` Try again in ${error.retryAfter} s.`;
  return { message, fields };
}
