// pnpm bench agent: the agent's image path against buildah by hand and a plain copy, same machine, same run.
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeArchive } from '@stateful-migration/archive';
import { table } from './table.js';
import { fedDir, repoRoot } from '../fed/paths.js';
import type { RegistryInfo } from '../fed/registry.js';

const MiB = 1024 * 1024;
// The agent's local image build, from this checkout's build (e2e does not depend on the agent package).
const { buildLocalImage } = (await import(join(repoRoot, 'packages/agent/dist/image.js'))) as {
  buildLocalImage: (
    storage: { root: string; runroot: string; driver: string },
    archive: string,
    name: string,
    annotations: Record<string, string>,
  ) => Promise<string>;
};
const sizes = (process.env.BENCH_SIZES ?? '64,256,1024').split(',').map(Number);
const info = JSON.parse(readFileSync(join(fedDir, 'registry.json'), 'utf8')) as RegistryInfo;
const work = mkdtempSync(join(tmpdir(), 'bench-agent-'));
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

/** The agent's registry path (agent-push.ts) in its own process, with its peak RSS; encrypted with a key file. */
function agentPush(
  archive: string,
  tag: string,
  publicKey?: string,
  before = false,
): { run: { buildMs: number; pushMs: number }; peakMiB: number } {
  const r = spawnSync(
    '/usr/bin/time',
    [
      '-f',
      '%M',
      process.execPath,
      join(repoRoot, 'e2e/dist/bench/agent-push.js'),
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
  return {
    run: JSON.parse(r.stdout) as { buildMs: number; pushMs: number },
    peakMiB: Number(r.stderr.trim().split('\n').pop()) / 1024,
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
for (const size of sizes) {
  const archive = join(work, `archive-${size}.tar`);
  await writeArchive(archive, {
    containerName: 'app',
    podName: 'bench',
    namespace: 'bench',
    rootfsImageName: 'busybox',
    memoryBytes: size * MiB,
  });
  execFileSync('sh', ['-c', `cat ${archive} > /dev/null`]); // warm the page cache for every contender alike
  const copyMs = time(() => copyFileSync(archive, join(work, 'copy.tar')));
  rmSync(join(work, 'copy.tar'));

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
  // The local path: before, buildah from + add + config + commit (the columns above); now an OCI layout copied in.
  const localBeforeMs = addMs + configMs + commitMs;
  const t0 = performance.now();
  await buildLocalImage(
    { root: join(work, 'storage'), runroot: join(work, 'run'), driver: 'vfs' },
    archive,
    `localhost/bench-local:${size}`,
    { 'io.kubernetes.cri-o.annotations.checkpoint.name': 'app' },
  );
  const localMs = performance.now() - t0;
  buildah(['rmi', `localhost/bench-local:${size}`]);
  const s = (ms: number) => (ms / 1000).toFixed(2);
  rows.push([
    `${size} MiB`,
    s(copyMs),
    `${s(handMs)} (add ${s(addMs)}, commit ${s(commitMs)}, push ${s(push.ms)})`,
    `${s(beforeMs)} (hash ${s(before.run.buildMs)}, push ${s(before.run.pushMs)})`,
    s(oursMs),
    `${(beforeMs / copyMs).toFixed(1)} -> ${(oursMs / copyMs).toFixed(1)}`,
    `${s(encMs)} (${(encMs / oursMs).toFixed(2)}x)`,
    `${s(localBeforeMs)} -> ${s(localMs)}`,
    `${(localBeforeMs / copyMs).toFixed(1)} -> ${(localMs / copyMs).toFixed(1)}`,
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
  'local image before -> now s',
  'local/copy before -> now',
  'peak RSS MiB agent / encrypted / buildah push',
];
process.stdout.write(table(header, rows));
