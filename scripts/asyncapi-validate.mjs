// Validate an AsyncAPI document with AsyncAPI's own parser (@asyncapi/parser, pinned in
// package.json): `node scripts/asyncapi-validate.mjs docs/asyncapi.json`. Prints every
// diagnostic (errors, warnings, hints) with its path; exits 1 when the parser reports an error
// or cannot build the document, 2 on bad usage. --strict fails on warnings too.
import { readFile } from 'node:fs/promises';
import { Parser } from '@asyncapi/parser';

const args = process.argv.slice(2);
const strict = args.includes('--strict');
const files = args.filter((arg) => arg !== '--strict');
if (files.length !== 1) {
  console.error('usage: node scripts/asyncapi-validate.mjs [--strict] FILE');
  process.exit(2);
}
const severities = ['error', 'warning', 'info', 'hint'];
const text = await readFile(files[0], 'utf8');
const { document, diagnostics } = await new Parser().parse(text, { source: files[0] });
for (const d of diagnostics) {
  console.log(`${severities[d.severity] ?? d.severity}: ${d.code}: ${d.message} at /${d.path.join('/')}`);
}
const errors = diagnostics.filter((d) => d.severity === 0).length;
const warnings = diagnostics.filter((d) => d.severity === 1).length;
if (!document || errors || (strict && warnings)) {
  console.error(`${files[0]}: invalid AsyncAPI document (${errors} errors, ${warnings} warnings)`);
  process.exit(1);
}
const version = document.version();
console.log(`${files[0]}: valid AsyncAPI ${version}: ${document.channels().length} channels, ` +
  `${document.operations().length} operations, ${document.allMessages().length} messages` +
  ` (${warnings} warnings)`);
