#!/usr/bin/env node
// Runs the test suites: `unit` (no cluster), `e2e` (integration and e2e on the local federation), or `all`.
// The federation is brought up if it is not already, and taken down again only if this run started it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const mode = process.argv[2] ?? 'all';

function find(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.js')) out.push(relative(root, p));
  }
  return out;
}

const all = [...readdirSync(join(root, 'packages')).map((p) => `packages/${p}/dist`), 'e2e/dist'].flatMap(
  (d) => find(join(root, d)),
);
const isCluster = (f) => /\.(int|e2e)\.test\.js$/.test(f);
const unit = all.filter((f) => !isCluster(f));
// Integration first, then e2e, each in name order, so the order is the same on every machine.
const cluster = all
  .filter(isCluster)
  .sort((a, b) => Number(a.includes('.e2e.')) - Number(b.includes('.e2e.')) || a.localeCompare(b));

const run = (cmd, args, env = {}) =>
  spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } }).status ?? 1;

// LTS_NODE names a second Node.js (the current LTS) to run the unit and integration suites on as well.
const lts = process.env.LTS_NODE;
const nodes = [process.execPath, ...(lts ? [lts] : [])];
const integration = cluster.filter((f) => f.includes('.int.'));

let status = 0;
if (mode === 'unit' || mode === 'all') {
  for (const node of nodes) {
    if (status === 0) status = run(node, ['--test', '--test-reporter=spec', ...unit]);
  }
}
if ((mode === 'e2e' || mode === 'all') && status === 0) {
  const wasUp = run(process.execPath, ['e2e/dist/fed/cli.js', 'status'], {}) === 0;
  if (!wasUp) status = run(process.execPath, ['e2e/dist/fed/cli.js', 'up']);
  if (status === 0) {
    status = run(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...cluster]);
  }
  if (status === 0 && lts) {
    status = run(lts, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...integration]);
  }
  if (!wasUp && !process.env.KEEP_FED) run(process.execPath, ['e2e/dist/fed/cli.js', 'down']);
}
process.exit(status);
