// One measured run of the agent's registry path in its own process, so its peak RSS is its own. With a public key
// file as the last argument, the encrypted path (spec.encryption): no build-time hashing (the digest is known once
// pushed), the layer encrypted for that key in the push's one pass.
import { readFileSync } from 'node:fs';
import { parseRecipientKey } from '@stateful-migration/ocicrypt';
import { describeImage, pushImage, RegistryClient } from '@stateful-migration/registry';

const [archive, host, repository, tag, authFile, caFile, publicKey] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
  string | undefined,
];
const creds = JSON.parse(readFileSync(authFile, 'utf8')) as { username: string; password: string };
const annotations = { 'io.kubernetes.cri-o.annotations.checkpoint.name': 'app' };
const created = new Date();
const encryptFor = publicKey ? [parseRecipientKey(readFileSync(publicKey, 'utf8'))] : undefined;
const client = new RegistryClient({ host, credentials: creds, ca: readFileSync(caFile) });
// BENCH_BEFORE=1: the path before one-read pushes (a hashing read at build, then the push); else the push alone,
// which hashes as it uploads (encrypted: always so).
const t0 = performance.now();
const described =
  process.env.BENCH_BEFORE && !encryptFor ? await describeImage(archive, annotations, created) : undefined;
const t1 = performance.now();
const pushed = await pushImage(client, {
  repository,
  tag,
  layerTar: archive,
  annotations,
  created,
  ...(encryptFor ? { encryptFor } : {}),
});
const t2 = performance.now();
if (described && pushed.digest !== described.digest) throw new Error('digest mismatch');
if (encryptFor && !pushed.encrypted) throw new Error('not encrypted');
const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
process.stdout.write(JSON.stringify({ buildMs: t1 - t0, pushMs: t2 - t1, peakRssMiB: hwm / 1024 }));
