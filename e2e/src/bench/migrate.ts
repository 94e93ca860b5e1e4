// pnpm bench migrate: moving a counter that holds N MiB of touched memory from member1 to member2 through the hub
// (checkpoint, archive, image, push, pull, restore), beside the floor measured in the same run: CRIU dump and
// restore of the same container on one node, with no image and no registry.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckpointBackup, CheckpointRestore } from '@stateful-migration/api';
import { eventually } from '@stateful-migration/kube/testing';
import { kubectl } from '../fed/kubectl.js';
import { binary, criuPath, fedDir, kubeconfigPath } from '../fed/paths.js';
import type { RegistryInfo } from '../fed/registry.js';
import { parseCriLogLine } from '../node/runtime/decisions.js';
import { Runc } from '../node/runtime/runc.js';
import { counterWorkloadYaml } from '../cases/restore-support.js';

const sizes = (process.env.BENCH_SIZES ?? '64,256,1024').split(',').map(Number);
const INTERVAL_MS = 50;
const info = JSON.parse(readFileSync(join(fedDir, 'registry.json'), 'utf8')) as RegistryInfo;
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);
const say = (s: string) => process.stderr.write(`${s}\n`);

/** Each `count N` line of a CRI log with its time (ms). */
function countsIn(text: string): { n: number; at: number }[] {
  return text
    .split('\n')
    .map(parseCriLogLine)
    .map((l) => (l ? { m: /^count (\d+)/.exec(l.content), at: Date.parse(l.time) } : undefined))
    .filter((x): x is { m: RegExpExecArray; at: number } => !!x?.m)
    .map((x) => ({ n: Number(x.m[1]), at: x.at }));
}

/**
 * The floor: the same container (busybox + counter, holding N MiB) in runc under conmon, dumped by CRIU (not left
 * running) and restored on the same machine from the same directory. Nothing is copied, built or pulled.
 */
async function floor(
  size: number,
): Promise<{ dumpMs: number; restoreMs: number; downtimeMs: number; imagesMiB: number }> {
  const dir = join(fedDir, 'bench-floor', String(size));
  rmSync(dir, { recursive: true, force: true });
  const runc = new Runc({
    root: join(dir, 'runc'),
    criu: criuPath(),
    exitDir: join(dir, 'exits'),
    socketDir: join(dir, 'sock'),
  });
  const bundle = (name: string) => {
    const b = join(dir, name);
    for (const d of ['upper', 'work', 'rootfs']) mkdirSync(join(b, d), { recursive: true });
    execFileSync('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${join(fedDir, 'images', 'rootfs')},upperdir=${join(b, 'upper')},workdir=${join(b, 'work')}`,
      join(b, 'rootfs'),
    ]);
    return b;
  };
  const spec = (b: string) =>
    JSON.stringify({
      ociVersion: '1.0.2-dev',
      process: {
        terminal: false,
        user: { uid: 0, gid: 0 },
        args: ['/bin/counter'],
        env: ['PATH=/bin', `HOLD_MIB=${size}`, `INTERVAL_MS=${INTERVAL_MS}`],
        cwd: '/',
        noNewPrivileges: true,
      },
      root: { path: join(b, 'rootfs') },
      hostname: 'floor',
      mounts: [
        { destination: '/proc', type: 'proc', source: 'proc' },
        { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=755'] },
      ],
      linux: {
        namespaces: [
          { type: 'pid' },
          { type: 'ipc' },
          { type: 'uts' },
          { type: 'mount' },
          { type: 'network' },
        ],
      },
    });
  const a = bundle('a');
  execFileSync('sh', ['-c', `cat > ${join(a, 'config.json')}`], { input: spec(a) });
  const logA = join(dir, 'a.log');
  await runc.run('floor-a', a, logA);
  await eventually(
    async () => (countsIn(readFileSync(logA, 'utf8')).length > 3 ? true : undefined),
    120_000,
    'the floor container to count',
  );
  const images = join(dir, 'images');
  const t0 = performance.now();
  execFileSync('runc', [
    `--root=${join(dir, 'runc')}`,
    `--criu=${criuPath()}`,
    'checkpoint',
    `--image-path=${images}`,
    `--work-path=${join(dir, 'dump-work')}`,
    'floor-a',
  ]);
  const dumpMs = performance.now() - t0;
  const b = bundle('b');
  execFileSync('sh', ['-c', `cat > ${join(b, 'config.json')}`], { input: spec(b) });
  execFileSync('sh', ['-c', `cp -a ${join(a, 'upper')}/. ${join(b, 'rootfs')}/`]);
  const logB = join(dir, 'b.log');
  const t1 = performance.now();
  await runc.restore('floor-b', b, logB, images, join(dir, 'restore-work'));
  const restoreMs = performance.now() - t1;
  await eventually(
    async () => (countsIn(readFileSync(logB, 'utf8')).length > 0 ? true : undefined),
    60_000,
    'the restored floor container to count',
  );
  const last = countsIn(readFileSync(logA, 'utf8')).at(-1)!;
  const first = countsIn(readFileSync(logB, 'utf8'))[0]!;
  if (first.n !== last.n + 1) say(`floor ${size}: restored counter went on at ${first.n} after ${last.n}`);
  const imagesMiB = Number(execFileSync('du', ['-sm', images], { encoding: 'utf8' }).split('\t')[0]);
  await runc.remove('floor-b');
  await runc.remove('floor-a');
  for (const x of [a, b]) execFileSync('umount', [join(x, 'rootfs')]);
  rmSync(dir, { recursive: true, force: true });
  return { dumpMs, restoreMs, downtimeMs: first.at - last.at - INTERVAL_MS, imagesMiB };
}

interface Through {
  checkpointMs: number;
  imagePushMs: number;
  restoreMs: number;
  stopMs: number;
  totalMs: number;
  downtimeMs: number;
  lostCounts: number;
}

/**
 * The product: a CheckpointRestore in Migrate mode to member2 through the hub, for a pod whose (scheduled) backup
 * exists: the migration's own checkpoint (kubelet checkpoint, the pod stopped right after it, image, push), then the
 * restore, then the workload scaled to 0.
 */
async function throughHub(size: number, ns: string): Promise<Through> {
  const name = `c${size}`;
  await hub(
    ['apply', '-f', '-'],
    counterWorkloadYaml({
      ns,
      kind: 'Deployment',
      name,
      node: 'm1-a',
      terminationGracePeriodSeconds: 5,
      env: { HOLD_MIB: String(size), INTERVAL_MS: String(INTERVAL_MS) },
      policy: { placement: ['member1'] },
    }),
  );
  const pod = await eventually(
    async () => {
      const out = await kubectl('member1', [
        'get',
        'pods',
        '-n',
        ns,
        '-l',
        `app=${name}`,
        '-o',
        'jsonpath={.items[0].metadata.name}',
      ]).catch(() => '');
      if (!out) return undefined;
      const logs = await kubectl('member1', ['logs', '-n', ns, out]).catch(() => '');
      return /^count 3$/m.test(logs) ? out : undefined;
    },
    300_000,
    `${name} counting in member1`,
  );
  // The user's backup: scheduled (yearly), so it never runs here; a Migrate takes its own checkpoint now.
  await hub(
    ['apply', '-f', '-'],
    `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: ${name}, namespace: ${ns}}
spec:
  schedule: "0 0 1 1 *"
  podRef: {name: ${pod}}
  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: ${name}}
  registry: {url: "${info.url}", repository: bench/${ns}, secretRef: {name: push}}
`,
  );
  await eventually(
    async () => {
      const b = JSON.parse(await hub(['get', 'cpb', name, '-n', ns, '-o', 'json'])) as CheckpointBackup;
      return b.status?.placement?.clusters?.includes('member1') ? true : undefined;
    },
    120_000,
    `${name} placed in member1`,
  );
  // The source's log is gone with its pod: follow it from now until the migration has stopped it.
  const follow = spawn(binary('kubectl'), [
    '--kubeconfig',
    kubeconfigPath('member1'),
    'logs',
    '-f',
    '--timestamps',
    '-n',
    ns,
    pod,
  ]);
  let srcText = '';
  follow.stdout.on('data', (b: Buffer) => (srcText += b.toString()));
  const t1 = Date.now();
  await hub(
    ['apply', '-f', '-'],
    `apiVersion: migration.dcnlab.com/v1
kind: CheckpointRestore
metadata: {name: ${name}, namespace: ${ns}}
spec: {backupRef: {name: ${name}}, targetCluster: member2, mode: Migrate}
`,
  );
  const r = await eventually(
    async () => {
      const x = JSON.parse(await hub(['get', 'cpr', name, '-n', ns, '-o', 'json'])) as CheckpointRestore;
      if (x.status?.phase === 'Failed') throw new Error(`restore failed: ${x.status.message}`);
      return x.status?.phase === 'SourceStopped' ? x : undefined;
    },
    600_000,
    `${name} migrated`,
  );
  const stopped = Date.now();
  // When the agent of the migration's own backup started its run (the finish clears checkpointFiles, so the
  // kubelet's answer is not there any more).
  const inMember = JSON.parse(
    await kubectl('member1', ['get', 'cpb', r.status!.checkpoint!.backup, '-n', ns, '-o', 'json']),
  ) as CheckpointBackup;
  const checkpointed = Date.parse(inMember.status?.run?.startedAt ?? '') || t1;
  const submitted = Date.parse(r.status?.submittedTime ?? '') || stopped;
  const restored = Date.parse(r.status?.restoredTime ?? '') || stopped;
  await new Promise((r) => setTimeout(r, 2000));
  follow.kill();
  const srcLog = srcText
    .split('\n')
    .map((l) => l.replace(/^(\S+) /, '$1 stdout F '))
    .join('\n');
  const dstLog = (await kubectl('member2', ['logs', '-n', ns, r.status!.restoredPod!.name, '--timestamps']))
    .split('\n')
    .map((l) => l.replace(/^(\S+) /, '$1 stdout F '))
    .join('\n');
  const last = countsIn(srcLog).at(-1);
  const first = countsIn(dstLog)[0]!;
  return {
    checkpointMs: checkpointed - t1,
    imagePushMs: submitted - checkpointed,
    restoreMs: restored - submitted,
    stopMs: stopped - restored,
    totalMs: stopped - t1,
    downtimeMs: last ? first.at - last.at - INTERVAL_MS : NaN,
    lostCounts: last ? last.n + 1 - first.n : NaN,
  };
}

const ns = `bench-migrate-${Date.now().toString(36)}`;
await hub(['create', 'namespace', ns]);
const b64 = (s: string) => Buffer.from(s).toString('base64');
await hub(
  ['apply', '-f', '-'],
  `apiVersion: v1
kind: Secret
metadata: {name: push, namespace: ${ns}}
data: {username: ${b64(info.username)}, password: ${b64(info.password)}}
`,
);
const rows: string[][] = [];
const s = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '-');
try {
  for (const size of sizes) {
    say(`${size} MiB: floor`);
    const f = await floor(size);
    say(`${size} MiB: through the hub`);
    const t = await throughHub(size, ns);
    rows.push([
      `${size} MiB`,
      `${s(f.dumpMs)} + ${s(f.restoreMs)} (${f.imagesMiB} MiB)`,
      s(f.downtimeMs),
      s(t.checkpointMs),
      s(t.imagePushMs),
      s(t.restoreMs),
      s(t.stopMs),
      s(t.totalMs),
      s(t.downtimeMs),
      String(t.lostCounts),
    ]);
  }
} finally {
  await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
}
const header = [
  'memory',
  'floor dump + restore s (CRIU images)',
  'floor downtime s',
  'checks, backup made, run started s',
  'checkpoint + source stop + image + push s (to the hub)',
  'pull + restore to Ready s',
  'source stop s',
  'Migrate total s',
  'downtime s',
  'counts lost',
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
process.stdout.write(
  [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n',
);
