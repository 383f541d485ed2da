// Error answers turned into sentences (webui/js/errors.js): no regex, type name or JSON path survives.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fieldName, fieldSentence, humanError, isReadable } from "../../webui/js/errors.js";

const MACHINE = /`|\$|Expected|regex|\bstr\b|\[\d+\]|\^/;

test("msgspec refusals become the field's sentence, at the form field's name", () => {
  const answer = humanError({
    status: 422,
    code: "validation_failed",
    message: "Expected `str` matching regex '^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$'",
    fields: { "allowed_origins[0]": "Expected `str` matching regex '^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$'" },
  });
  assert.deepEqual(Object.keys(answer.fields), ["allowed_origins"]);
  assert.match(answer.fields.allowed_origins, /https:\/\/shop\.example/);
  assert.equal(answer.message, "Some of what you entered needs a change.");
  for (const text of [answer.message, ...Object.values(answer.fields)]) assert.doesNotMatch(text, MACHINE);
});

test("email, password length and missing fields read as sentences", () => {
  const email = humanError({ code: "validation_failed", message: "x", fields: { email: "Expected `str` matching regex '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$'" } });
  assert.equal(email.fields.email, "Enter an email address like name@example.com.");
  assert.equal(fieldSentence("secret", "Expected `str` of length >= 12"), "Use at least 12 characters.");
  assert.equal(fieldSentence("count", "Expected `int` <= 100"), "Enter a number of at most 100.");
  const missing = humanError({ code: "validation_failed", message: "Object missing required field `domain`", fields: { $: "Object missing required field `domain`" } });
  assert.deepEqual(Object.keys(missing.fields), ["domain"]);
  assert.equal(humanError({ code: "validation_failed", fields: { name: "bad" } }, "metric").fields.name.startsWith("Use letters"), true);
});

test("readable API messages are kept as sentences; machine ones are replaced", () => {
  assert.equal(humanError({ code: "conflict", message: "a member already" }).message, "A member already.");
  assert.equal(humanError({ code: "bad_json", message: "JSON: Expected `object`, got `array` - at `$`" }).message, "Eddy could not read that request.");
  assert.equal(humanError({ status: 500, code: "internal", message: "Traceback (most recent call last)" }).message, "Something went wrong on Eddy's side. Try again in a moment.");
  assert.equal(fieldSentence("color", "Expected `str` matching regex '^#[0-9a-f]{6}$'"), "Check this value.");
  assert.equal(isReadable("cannot filter on 'x'"), true);
  assert.equal(fieldName("$.events[3].ts"), "ts");
  assert.equal(fieldName("options.batch_size"), "batch_size");
  assert.equal(fieldName("allowed_origins[0]"), "allowed_origins");
  assert.equal(fieldName("$"), "");
  assert.equal(fieldName("goals[2].page"), "goals");
  assert.equal(fieldName("compat.umami"), "compat");
});
