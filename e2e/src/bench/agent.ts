// pnpm bench agent [before-root]: the agent's image path against buildah by hand and a plain copy, same machine, same
// run. With before-root (another checkout, built: e.g. a worktree of main), a second table sets that build's push
// beside this one's, alternated BENCH_REPEAT times (default 3) with a copy each time, medians shown, with each
// side's CPU: the agent's (GNU time) and the registry's (/proc/<pid>/stat). BENCH_REGISTRY_ONLY=1 prints only that
// table (no buildah, encrypted or local columns), for repeated runs on a shared machine. BENCH_LOCAL_ONLY=1 prints
// only the local image's table: skopeo (before) and checkpoint-store (now) alternated BENCH_REPEAT times with a
// copy each time, medians shown (no registry needed).
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeArchive } from '@stateful-migration/archive';
import { table } from './table.js';
import { binary, fedDir, repoRoot } from '../fed/paths.js';
import type { RegistryInfo } from '../fed/registry.js';
import { mainPid, type FedState } from '../fed/procs.js';

const MiB = 1024 * 1024;
// The agent's local image build, from this checkout's build (e2e does not depend on the agent package).
const { buildLocalImage } = (await import(join(repoRoot, 'packages/agent/dist/image.js'))) as {
  buildLocalImage: (
    storage: { root: string; runroot: string; driver: string; checkpointStore?: string },
    archive: string,
    name: string,
    annotations: Record<string, string>,
  ) => Promise<string>;
};
const sizes = (process.env.BENCH_SIZES ?? '64,256,1024').split(',').map(Number);
const beforeRoot = process.argv[2];
const repeat = Number(process.env.BENCH_REPEAT ?? 3);
const registryOnly = process.env.BENCH_REGISTRY_ONLY === '1';
const localOnly = process.env.BENCH_LOCAL_ONLY === '1';
if (registryOnly && !beforeRoot) throw new Error('BENCH_REGISTRY_ONLY=1 needs a before-root to compare with');
const checkpointStore = binary('checkpoint-store');
const work = mkdtempSync(join(tmpdir(), 'bench-agent-'));
const local = {
  root: join(work, 'storage'),
  runroot: join(work, 'run'),
  driver: 'vfs',
};
/** A checkpoint archive of `size` MiB of memory, in the page cache (warmed for every contender alike). */
async function benchArchive(size: number): Promise<string> {
  const archive = join(work, `archive-${size}.tar`);
  await writeArchive(archive, {
    containerName: 'app',
    podName: 'bench',
    namespace: 'bench',
    rootfsImageName: 'busybox',
    memoryBytes: size * MiB,
  });
  execFileSync('sh', ['-c', `cat ${archive} > /dev/null`]);
  return archive;
}
/** The agent's local image, written by checkpoint-store (now) or skopeo (before, and where the helper is absent). */
async function localImage(archive: string, name: string, helper: boolean): Promise<number> {
  const t0 = performance.now();
  await buildLocalImage({ ...local, ...(helper ? { checkpointStore } : {}) }, archive, name, {
    'io.kubernetes.cri-o.annotations.checkpoint.name': 'app',
  });
  const ms = performance.now() - t0;
  execFileSync('buildah', [
    '--root',
    local.root,
    '--runroot',
    local.runroot,
    '--storage-driver',
    'vfs',
    'rmi',
    name,
  ]);
  return ms;
}
if (localOnly) {
  const rows: string[][] = [];
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const s = (ms: number) => (ms / 1000).toFixed(2);
  for (const size of sizes) {
    const archive = await benchArchive(size);
    const runs: { copy: number; before: number; now: number }[] = [];
    for (let i = 0; i < repeat; i++) {
      const t0 = performance.now();
      copyFileSync(archive, join(work, 'copy.tar'));
      const copy = performance.now() - t0;
      rmSync(join(work, 'copy.tar'));
      runs.push({
        copy,
        before: await localImage(archive, `localhost/bench-skopeo:${size}-${i}`, false),
        now: await localImage(archive, `localhost/bench-helper:${size}-${i}`, true),
      });
    }
    const [c, b, n] = (['copy', 'before', 'now'] as const).map((k) => median(runs.map((r) => r[k]))) as [
      number,
      number,
      number,
    ];
    rows.push([
      `${size} MiB`,
      `${s(c)} [${runs.map((r) => s(r.copy)).join(' ')}]`,
      `${s(b)} [${runs.map((r) => s(r.before)).join(' ')}]`,
      `${s(n)} [${runs.map((r) => s(r.now)).join(' ')}]`,
      `${(b / c).toFixed(1)} -> ${(n / c).toFixed(1)}`,
    ]);
    rmSync(archive);
  }
  rmSync(work, { recursive: true, force: true });
  process.stdout.write(
    table(
      ['archive', 'copy s', 'skopeo s (before)', 'checkpoint-store s (now)', 'local/copy before -> now'],
      rows,
    ),
  );
  process.exit(0);
}
const state = JSON.parse(readFileSync(join(fedDir, 'state.json'), 'utf8')) as FedState;
// The registry itself, not the supervisor that `fed up` runs it under.
const registryRec = state.procs.find((p) => p.name === 'registry');
const registryPid = registryRec && mainPid(registryRec);
/** The registry's CPU seconds so far (utime + stime, 100 Hz ticks). */
function registryCpu(): number {
  if (!registryPid) return NaN;
  const f = readFileSync(`/proc/${registryPid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}
const info = JSON.parse(readFileSync(join(fedDir, 'registry.json'), 'utf8')) as RegistryInfo;
const storage = ['--root', join(work, 'storage'), '--runroot', join(work, 'run'), '--storage-driver', 'vfs'];
const authFile = join(work, 'auth.json');
writeFileSync(
  authFile,
  JSON.stringify({
    auths: { [info.url]: { auth: Buffer.from(`${info.username}:${info.password}`).toString('base64') } },
  }),
  { mode: 0o600 },
);
const credsFile = join(work, 'creds.json');
writeFileSync(credsFile, JSON.stringify({ username: info.username, password: info.password }), {
  mode: 0o600,
});

const publicKeyFile = join(work, 'recipient.pub.pem');
writeFileSync(
  publicKeyFile,
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }),
);

/**
 * The agent's registry path (agent-push.ts, from `root`'s build) in its own process, with its peak RSS and CPU
 * seconds (GNU time), and the registry's CPU seconds meanwhile; encrypted with a key file.
 */
function agentPush(
  archive: string,
  tag: string,
  publicKey?: string,
  before = false,
  root = repoRoot,
): { run: { buildMs: number; pushMs: number }; peakMiB: number; cpuS: number; registryCpuS: number } {
  const r0 = registryCpu();
  const r = spawnSync(
    '/usr/bin/time',
    [
      '-f',
      '%M %U %S',
      process.execPath,
      join(root, 'e2e/dist/bench/agent-push.js'),
      archive,
      info.url,
      'bench/agent',
      tag,
      credsFile,
      info.caFile,
      ...(publicKey ? [publicKey] : []),
    ],
    // BENCH_BEFORE: the path before one-read pushes, a hashing read at build before the push.
    { encoding: 'utf8', env: { ...process.env, ...(before ? { BENCH_BEFORE: '1' } : {}) } },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  const [kib, user, sys] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number) as [
    number,
    number,
    number,
  ];
  return {
    run: JSON.parse(r.stdout) as { buildMs: number; pushMs: number },
    peakMiB: kib / 1024,
    cpuS: user + sys,
    registryCpuS: registryCpu() - r0,
  };
}

const time = (fn: () => void): number => {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
};
const buildah = (args: string[]): string =>
  execFileSync('buildah', [...storage, ...args], { encoding: 'utf8' }).trim();
/** Peak RSS of a child command, from GNU time's %M (KiB). */
const peakOf = (cmd: string[]): { ms: number; peakMiB: number } => {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', ...cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
  return { ms: performance.now() - t0, peakMiB: Number(r.stderr.trim().split('\n').pop()) / 1024 };
};

const rows: string[][] = [];
const compared: string[][] = [];
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const s = (ms: number) => (ms / 1000).toFixed(2);
for (const size of sizes) {
  const archive = await benchArchive(size);
  const copy = () => {
    const ms = time(() => copyFileSync(archive, join(work, 'copy.tar')));
    rmSync(join(work, 'copy.tar'));
    return ms;
  };
  const copyMs = copy();
  if (beforeRoot) {
    // Alternated, so load that comes and goes on a shared machine falls on both builds alike.
    const runs: {
      copyMs: number;
      before: ReturnType<typeof agentPush>;
      now: ReturnType<typeof agentPush>;
    }[] = [];
    for (let i = 0; i < repeat; i++)
      runs.push({
        copyMs: copy(),
        before: agentPush(archive, `${size}-base-${i}`, undefined, false, beforeRoot),
        now: agentPush(archive, `${size}-now-${i}`),
      });
    const m = (f: (r: (typeof runs)[number]) => number) => median(runs.map(f));
    const [c, b, n] = [m((r) => r.copyMs), m((r) => r.before.run.pushMs), m((r) => r.now.run.pushMs)];
    compared.push([
      `${size} MiB`,
      s(c),
      `${s(b)} [${runs.map((r) => s(r.before.run.pushMs)).join(' ')}]`,
      `${s(n)} [${runs.map((r) => s(r.now.run.pushMs)).join(' ')}]`,
      `${(b / c).toFixed(1)} -> ${(n / c).toFixed(1)}`,
      `${m((r) => r.before.cpuS).toFixed(2)} -> ${m((r) => r.now.cpuS).toFixed(2)}`,
      `${m((r) => r.before.registryCpuS).toFixed(2)} -> ${m((r) => r.now.registryCpuS).toFixed(2)}`,
      `${m((r) => r.before.peakMiB).toFixed(0)} -> ${m((r) => r.now.peakMiB).toFixed(0)}`,
    ]);
  }
  if (registryOnly) {
    rmSync(archive);
    continue;
  }

  const c = buildah(['from', 'scratch']);
  const addMs = time(() => buildah(['add', c, archive, '/']));
  const configMs = time(() =>
    buildah(['config', '--annotation=io.kubernetes.cri-o.annotations.checkpoint.name=app', c]),
  );
  const commitMs = time(() => buildah(['commit', '--quiet', c, `localhost/bench:${size}`]));
  const push = peakOf([
    'buildah',
    ...storage,
    'push',
    '--authfile',
    authFile,
    '--cert-dir',
    info.certDir,
    `localhost/bench:${size}`,
    `docker://${info.url}/bench/buildah:${size}`,
  ]);
  buildah(['rm', c]);
  buildah(['rmi', `localhost/bench:${size}`]);
  const handMs = addMs + configMs + commitMs + push.ms;

  const before = agentPush(archive, `${size}-before`, undefined, true);
  const ours = agentPush(archive, String(size));
  const oursMs = ours.run.buildMs + ours.run.pushMs;
  const beforeMs = before.run.buildMs + before.run.pushMs;
  // The same path with spec.encryption: encrypted for an EC P-256 key (ECDH-ES+A256KW; RSA costs the same per
  // layer: the per-byte work is AES-CTR and HMAC, the key wrap is once per image).
  const enc = agentPush(archive, `enc-${size}`, publicKeyFile);
  const encMs = enc.run.buildMs + enc.run.pushMs;
  // The local path: buildah from + add + config + commit (the columns above); an OCI layout copied in by skopeo;
  // the same layout written by checkpoint-store (the agent's path where the node has the helper).
  const localBeforeMs = addMs + configMs + commitMs;
  const skopeoMs = await localImage(archive, `localhost/bench-skopeo:${size}`, false);
  const localMs = await localImage(archive, `localhost/bench-local:${size}`, true);
  rows.push([
    `${size} MiB`,
    s(copyMs),
    `${s(handMs)} (add ${s(addMs)}, commit ${s(commitMs)}, push ${s(push.ms)})`,
    `${s(beforeMs)} (hash ${s(before.run.buildMs)}, push ${s(before.run.pushMs)})`,
    s(oursMs),
    `${(beforeMs / copyMs).toFixed(1)} -> ${(oursMs / copyMs).toFixed(1)}`,
    `${s(encMs)} (${(encMs / oursMs).toFixed(2)}x)`,
    `${s(localBeforeMs)} / ${s(skopeoMs)} / ${s(localMs)}`,
    `${(localBeforeMs / copyMs).toFixed(1)} / ${(skopeoMs / copyMs).toFixed(1)} / ${(localMs / copyMs).toFixed(1)}`,
    `${ours.peakMiB.toFixed(0)} / ${enc.peakMiB.toFixed(0)} / ${push.peakMiB.toFixed(0)}`,
  ]);
  rmSync(archive);
}
rmSync(work, { recursive: true, force: true });

const header = [
  'archive',
  'copy s',
  'buildah by hand s',
  'registry path before s',
  'registry path now s',
  'registry/copy before -> now',
  'encrypted now s',
  'local image s buildah / skopeo / checkpoint-store',
  'local/copy buildah / skopeo / checkpoint-store',
  'peak RSS MiB agent / encrypted / buildah push',
];
if (!registryOnly) process.stdout.write(table(header, rows));
if (beforeRoot) {
  process.stdout.write(
    `\nThe registry path's push, ${beforeRoot} (before) and this checkout (now), alternated ${repeat} times: median [each run]\n`,
  );
  process.stdout.write(
    table(
      [
        'archive',
        'copy s',
        'push before s',
        'push now s',
        'push/copy before -> now',
        'agent CPU s before -> now',
        'registry CPU s before -> now',
        'peak RSS MiB before -> now',
      ],
      compared,
    ),
  );
}
