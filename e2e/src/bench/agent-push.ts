// One measured run of the agent's registry path in its own process, so its peak RSS is its own.
import { readFileSync } from 'node:fs';
import { describeImage, pushImage, RegistryClient } from '@stateful-migration/registry';

const [archive, host, repository, tag, authFile, caFile] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const creds = JSON.parse(readFileSync(authFile, 'utf8')) as { username: string; password: string };
const annotations = { 'io.kubernetes.cri-o.annotations.checkpoint.name': 'app' };
const created = new Date();
const client = new RegistryClient({ host, credentials: creds, ca: readFileSync(caFile) });
// BENCH_BEFORE=1: the path before one-read pushes (a hashing read at build, then the push); else the push alone,
// which hashes as it uploads.
const t0 = performance.now();
const described = process.env.BENCH_BEFORE ? await describeImage(archive, annotations, created) : undefined;
const t1 = performance.now();
const pushed = await pushImage(client, { repository, tag, layerTar: archive, annotations, created });
const t2 = performance.now();
if (described && pushed.digest !== described.digest) throw new Error('digest mismatch');
const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
process.stdout.write(JSON.stringify({ buildMs: t1 - t0, pushMs: t2 - t1, peakRssMiB: hwm / 1024 }));
