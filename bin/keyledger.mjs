#!/usr/bin/env node
// The `keyledger` command (npx keyledger …): runs the built CLI from dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('keyledger: the CLI is not built yet; run `npm run build` (npm start and npm test build it too)\n');
  process.exit(2);
}
await import(cli);
