// Builds dist/eddy.min.js from src/eddy.js with terser (pinned in package.json / package-lock.json).
// Run `make tracker` (npm ci && npm run build in tracker/). The built file is committed, so running
// Eddy needs no node; its banner carries the first 16 hex digits of the SHA-256 of the source it was
// built from, and a test checks that the committed build matches the committed source.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { minify } from 'terser';

const source = readFileSync(new URL('./src/eddy.js', import.meta.url), 'utf8');
const digest = createHash('sha256').update(source).digest('hex').slice(0, 16);
const result = await minify(source, {
  ecma: 2020,
  compress: { passes: 3, unsafe_arrows: true, pure_getters: true },
  mangle: { toplevel: true },
  format: { comments: false }
});
const output = `/*! eddy | src ${digest} */\n${result.code}\n`;
writeFileSync(new URL('./dist/eddy.min.js', import.meta.url), output);
console.log(`dist/eddy.min.js: ${output.length} bytes from source ${digest}`);
