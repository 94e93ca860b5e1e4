// pnpm bench agent: the agent's image path against buildah by hand and a plain copy, same machine, same run.
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeArchive } from '@stateful-migration/archive';
import { fedDir, repoRoot } from '../fed/paths.js';
import type { RegistryInfo } from '../fed/registry.js';

const MiB = 1024 * 1024;
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
    { encoding: 'utf8' },
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

  const ours = agentPush(archive, String(size));
  const r = ours.run;
  const oursPeak = ours.peakMiB;
  const oursMs = r.buildMs + r.pushMs;
  // The same path with spec.encryption: encrypted for an EC P-256 key (ECDH-ES+A256KW; RSA costs the same per
  // layer: the per-byte work is AES-CTR and HMAC, the key wrap is once per image).
  const enc = agentPush(archive, `enc-${size}`, publicKeyFile);
  const encMs = enc.run.buildMs + enc.run.pushMs;
  rows.push([
    `${size} MiB`,
    (copyMs / 1000).toFixed(2),
    `${(handMs / 1000).toFixed(2)} (add ${(addMs / 1000).toFixed(2)}, commit ${(commitMs / 1000).toFixed(2)}, push ${(push.ms / 1000).toFixed(2)})`,
    `${(oursMs / 1000).toFixed(2)} (build ${(r.buildMs / 1000).toFixed(2)}, push ${(r.pushMs / 1000).toFixed(2)})`,
    (oursMs / copyMs).toFixed(1),
    (handMs / copyMs).toFixed(1),
    `${(encMs / 1000).toFixed(2)} (push ${(enc.run.pushMs / 1000).toFixed(2)})`,
    (encMs / oursMs).toFixed(2),
    `${oursPeak.toFixed(0)} / ${enc.peakMiB.toFixed(0)} / ${push.peakMiB.toFixed(0)}`,
  ]);
  rmSync(archive);
}
rmSync(work, { recursive: true, force: true });

const header = [
  'archive',
  'copy s',
  'buildah by hand s',
  'agent s',
  'agent/copy',
  'buildah/copy',
  'agent encrypted s',
  'encrypted/agent',
  'peak RSS MiB agent / encrypted / buildah push',
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
process.stdout.write(
  [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n',
);
