#!/usr/bin/env node
// pnpm bench <name>: runs e2e/dist/bench/<name>.js on the running federation (pnpm fed up first).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const name = process.argv[2];
const script = new URL(`../dist/bench/${name}.js`, import.meta.url).pathname;
if (!name || !existsSync(script)) {
  console.error(
    'usage: pnpm bench agent [before-root] | agent-load [before-root] | agent-push | archive-info | failover | hub | migrate | restore | works',
  );
  process.exit(2);
}
process.exit(
  spawnSync(process.execPath, [script, ...process.argv.slice(3)], { stdio: 'inherit' }).status ?? 1,
);
