#!/usr/bin/env node
// Runs the test suites: `unit` (no cluster), `e2e` (integration and e2e on the local federation), or `all`.
// The federation is brought up if it is not already, and taken down again only if this run started it.
//
// The unit suite runs on each Node.js at once: separate processes that share nothing (unit tests use no cluster, and
// their own temporary directories and ports). Each writes to its own log, printed whole when it ends, so two spec
// reporters never interleave; any that fails fails the run.
//
// In `all` mode the unit suites and `pnpm lint` run beside `fed up` and then beside the cluster stage, at the lowest
// CPU priority (nice 19; docs/adr/0020): the cluster stage starts as soon as the federation is up instead of after
// the unit suites, and the unit suites and lint take only the CPU the federation and its cases leave idle, which is
// most of it (the cluster stage is mostly waiting). Their logs are printed after the cluster stage, whose spec output
// streams meanwhile; a failure among them fails the run as before, but no longer keeps the cluster stage from running.
//
// The cluster stage (integration and e2e tests on the federation) runs in two lanes (docs/adr/0017). Each such test
// file says near its top whether it shares the federation with another file running at the same time:
//   // suite: shares — <why>   it works in its own namespaces and objects, restarts, kills or reconfigures nothing
//                              every case uses (hub, agents, node stand-ins and their runtimes, members, Karmada,
//                              registry, chart), cordons no node, installs no cluster-wide webhook or policy reaching
//                              other namespaces, and asserts nothing global (the whole hub log, a global metrics
//                              counter, the registry catalog, every Event, every archive) another case could break;
//   // suite: alone — <why>    anything else. A file without a marker is alone, so a new case is safe by default.
// The shares lane runs first, CLUSTER_CONCURRENCY (2) files at a time: most of an e2e case is waiting (Karmada's
// failure detection, polls, cron ticks), not CPU. Then the alone lane, one file at a time in name order, so
// zz-every-archive, which reads every archive the suite wrote, is last. e2e/src/suite-lanes.ts decides.
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const mode = process.argv[2] ?? 'all';
// Within each Node.js the unit test files run one at a time (the two Node.js runs are what goes at once);
// TEST_CONCURRENCY runs more files at once on a machine with more cores.
const unitConcurrency = process.env.TEST_CONCURRENCY ?? '1';
// A unit test that never ends fails at this timeout instead of hanging a run whose output is printed at its end.
// Beside the cluster stage (nice 19) a file's wall time is not its CPU time: ocicrypt's layer.test (0.5 s of CPU)
// took 32 s here beside two busy nice-0 loops, and over 300 s in CI while the cluster stage kept both cores busy.
// So the limit there is 15 minutes, still well inside CI's 90; a hang is what it is for, not a slow machine.
const unitTestTimeoutMs = mode === 'all' ? '900000' : '300000';
// How many files of the cluster stage's shares lane run at once; 1 runs every cluster test file one at a time.
const clusterConcurrency = process.env.CLUSTER_CONCURRENCY ?? '2';

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
const cluster = all.filter(isCluster);

const run = (cmd, args, env = {}) =>
  spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } }).status ?? 1;

const logs = mkdtempSync(join(tmpdir(), 'sm-tests-'));
let logged = 0;
/** The processes runLogged started that have not ended, for an interrupted run to stop. */
const running = new Set();
/** Logs of stages that ran beside the cluster stage, printed once it has ended (printHeld). */
const held = [];
/**
 * Starts `cmd args` with its output going to a log of its own; resolves with its exit status once it has ended and
 * its log has been printed, between two lines naming it, its status and how long it took. `beside`: it runs beside
 * the cluster stage, at the lowest CPU priority (nice 19), and its log is held until printHeld().
 */
function runLogged(label, cmd, args, { beside = false } = {}) {
  const file = join(logs, `${++logged}.log`);
  const fd = openSync(file, 'w');
  const t0 = Date.now();
  const how = beside ? ', at the lowest CPU priority; printed after the cluster stage' : '';
  console.log(`── ${label}: started (log: ${file}${how})`);
  // nice(1) execs the command: the child's pid is the command's, and everything it starts inherits the priority.
  const child = beside
    ? spawn('nice', ['-n', '19', cmd, ...args], { cwd: root, stdio: ['ignore', fd, fd] })
    : spawn(cmd, args, { cwd: root, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  running.add(child);
  return new Promise((resolve) => {
    const done = (status, why) => {
      running.delete(child);
      const s = ((Date.now() - t0) / 1000).toFixed(0);
      const text = readFileSync(file);
      const print = () => {
        console.log(`\n── ${label}: output ────────────────────────────────`);
        process.stdout.write(text);
        console.log(`── ${label}: ${status === 0 ? 'passed' : `FAILED (${why})`} in ${s} s ──\n`);
      };
      if (beside) held.push(print);
      else print();
      resolve(status);
    };
    child.on('error', (err) => done(1, err.message));
    child.on('exit', (code, signal) =>
      done(code ?? 1, signal ? `killed by ${signal}` : `exit status ${code}`),
    );
  });
}
/** Prints the held logs of the stages that ran beside the cluster stage, in the order they ended. */
function printHeld() {
  for (const print of held.splice(0)) print();
}

// LTS_NODE names a second Node.js (the current LTS) to run the unit and integration suites on as well.
const lts = process.env.LTS_NODE;
const nodes = [process.execPath, ...(lts ? [lts] : [])];
const nodeName = (node) => spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
const integration = cluster.filter((f) => f.includes('.int.'));
const fedCli = 'e2e/dist/fed/cli.js';

let status = 0;
let wasUp = true;
// In `all` mode the unit suites and lint run beside `fed up` and the cluster stage (docs/adr/0020).
const beside = mode === 'all';
const background = [];
if (mode === 'unit' || mode === 'all') {
  for (const node of nodes) {
    background.push(
      runLogged(
        `unit tests on Node.js ${nodeName(node)}`,
        node,
        [
          '--test',
          `--test-concurrency=${unitConcurrency}`,
          `--test-timeout=${unitTestTimeoutMs}`,
          '--test-reporter=spec',
          ...unit,
        ],
        { beside },
      ),
    );
  }
}
if (mode === 'all') background.push(runLogged('pnpm lint', 'pnpm', ['-s', 'lint'], { beside }));
// A run stopped from outside (CI's time limit, ^C) prints what the running stages wrote so far. In the cluster
// stage the running lane's `node --test` gets the signal too (it prints what it has, cancels and exits), and no
// further lane or stage starts (runLanes); the federation this run started is still taken down. In `all` mode the
// unit suites, lint and `fed up` are stopped too.
let interrupted = false;
let lane;
for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => {
    interrupted = true;
    for (const f of existsSync(logs) ? readdirSync(logs) : []) {
      console.log(`\n── interrupted by ${sig}; log ${f} so far ──`);
      process.stdout.write(readFileSync(join(logs, f)));
    }
    // Beside the cluster stage they would run on after it; the `fed down` at the end stops what a killed `fed up` began.
    if (beside) for (const child of running) child.kill(sig);
    if (lane) {
      console.log(`\n── interrupted by ${sig}: stopping the cluster tests; no further lane starts`);
      lane.kill(sig);
    } else if (!beside) process.exit(1);
  });
if (mode === 'e2e' || mode === 'all') {
  wasUp = run(process.execPath, [fedCli, 'status']) === 0;
  if (!wasUp) status = await runLogged('fed up', process.execPath, [fedCli, 'up']);
}
if (!beside) for (const s of await Promise.all(background)) if (s !== 0) status = s;

/** Runs `node args` with the terminal's output, asynchronously, so a signal reaches the handler above meanwhile. */
function runLane(node, args) {
  return new Promise((resolve) => {
    lane = spawn(node, args, { cwd: root, stdio: 'inherit' });
    lane.on('error', () => resolve({ status: 1, signal: null }));
    lane.on('exit', (status, signal) => resolve({ status, signal }));
  }).finally(() => (lane = undefined));
}

/**
 * Runs cluster test files on `node` in their lanes: the shares lane `clusterConcurrency` files at a time, then the
 * alone lane one at a time. A failing lane does not stop the next; an interrupted run does (runLanes). Resolves with
 * the first failing status, or 0.
 */
async function clusterLanes(node, files) {
  // Built by `pnpm build` before this script runs (tsc keeps the markers, which are comments, in the .js files).
  const { planCluster, runLanes } = await import('../dist/suite-lanes.js');
  const plan = planCluster(files.map((path) => ({ path, source: readFileSync(join(root, path), 'utf8') })));
  if (plan.unmarked.length) console.log(`── no suite marker, so alone: ${plan.unmarked.join(' ')}`);
  const lanes = [
    ['shares', plan.shares, clusterConcurrency],
    ['alone', plan.alone, '1'],
  ].filter(([, laneFiles]) => laneFiles.length > 0);
  return runLanes(
    lanes,
    async ([name, laneFiles, concurrency]) => {
      const t0 = Date.now();
      const what = `${laneFiles.length} files on Node.js ${nodeName(node)}, ${concurrency} at a time`;
      console.log(`\n── cluster tests, ${name} lane: ${what}`);
      const end = await runLane(node, [
        '--test',
        `--test-concurrency=${concurrency}`,
        '--test-reporter=spec',
        ...laneFiles,
      ]);
      const secs = ((Date.now() - t0) / 1000).toFixed(0);
      const how = end.status === 0 ? 'passed' : `FAILED (${end.signal ?? `exit status ${end.status}`})`;
      console.log(`── cluster tests, ${name} lane: ${how} in ${secs} s (${what})\n`);
      return end;
    },
    () => interrupted,
  );
}

if ((mode === 'e2e' || mode === 'all') && status === 0 && !interrupted) {
  status = await clusterLanes(process.execPath, cluster);
  if (status === 0 && lts && !interrupted) status = await clusterLanes(lts, integration);
}
if ((mode === 'e2e' || mode === 'all') && !wasUp && !process.env.KEEP_FED) {
  run(process.execPath, [fedCli, 'down']);
}
if (beside) {
  if (running.size) console.log('── waiting for the unit tests and lint running beside the cluster stage');
  for (const s of await Promise.all(background)) if (s !== 0 && status === 0) status = s;
  printHeld();
}
rmSync(logs, { recursive: true, force: true });
process.exit(status);
