#!/usr/bin/env node
// Entry point for `npx lineside`: runs the compiled daemon/CLI (built by `npm install` via the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write(
    'lineside: dist/ is missing; run `npm install` (or `npm run build`) in the project root first\n',
  );
  process.exit(70);
}
await import(main);
