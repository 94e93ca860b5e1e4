// pnpm bench restore: where the time of a restore goes, from applying a CheckpointRestore to Restored on the hub,
// split between our controllers and the parts that are not ours, each seen by this script's own watches (its clock,
// in ms): `submit` (ours: apply -> the restored pod created on the hub), `propagate` (Karmada: hub pod -> member pod),
// `runtime` (scheduler, pull, CRIU restore: member pod -> its container running), `status back` (Karmada: running in
// the member -> the running status reflected on the hub pod), `follow` (ours: -> Restored). BENCH_RESTORES (default
// 5) restores of one checkpoint of a counter holding 1 MiB, to member2, one after another.
import type { CheckpointBackup, CheckpointRestore } from '@stateful-migration/api';
import { Informer, RestClient, restListWatch, type KubeObject } from '@stateful-migration/kube';
import { eventually } from '@stateful-migration/kube/testing';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubectl } from '../fed/kubectl.js';
import { table } from './table.js';
import { counterWorkloadYaml } from '../cases/restore-support.js';
import { fedDir, kubeconfigPath } from '../fed/paths.js';
import type { RegistryInfo } from '../fed/registry.js';

const restores = Number(process.env.BENCH_RESTORES ?? 5);
const info = JSON.parse(readFileSync(join(fedDir, 'registry.json'), 'utf8')) as RegistryInfo;
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);
const say = (s: string) => process.stderr.write(`${s}\n`);
const ns = `bench-restore-${Date.now().toString(36)}`;
const b64 = (s: string) => Buffer.from(s).toString('base64');

type Pod = KubeObject & {
  metadata: { name: string; labels?: Record<string, string> };
  status?: { containerStatuses?: { state?: { running?: unknown } }[] };
};
const running = (p: Pod) =>
  !!p.status?.containerStatuses?.length && p.status.containerStatuses.every((c) => c.state?.running);

await hub(['create', 'namespace', ns]);
await hub(
  ['apply', '-f', '-'],
  `apiVersion: v1
kind: Secret
metadata: {name: push, namespace: ${ns}}
data: {username: ${b64(info.username)}, password: ${b64(info.password)}}
---
${counterWorkloadYaml({
  ns,
  kind: 'Deployment',
  name: 'src',
  node: 'm1-a',
  env: { HOLD_MIB: '1' },
  policy: { placement: ['member1'] },
})}`,
);
say('waiting for the source pod');
const pod = await eventually(
  async () =>
    (await kubectl('member1', [
      'get',
      'pods',
      '-n',
      ns,
      '-l',
      'app=src',
      '-o',
      'jsonpath={.items[?(@.status.phase=="Running")].metadata.name}',
    ]).catch(() => '')) || undefined,
  300_000,
  'the source running',
);
await hub(
  ['apply', '-f', '-'],
  `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: src, namespace: ${ns}}
spec:
  schedule: immediately
  podRef: {name: ${pod}}
  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: src}
  registry: {url: "${info.url}", repository: bench/${ns}, secretRef: {name: push}}
`,
);
say('waiting for the checkpoint image');
await eventually(
  async () => {
    const b = JSON.parse(await hub(['get', 'cpb', 'src', '-n', ns, '-o', 'json'])) as CheckpointBackup;
    const m1 = b.status?.clusters?.find((c) => c.name === 'member1');
    if (m1?.phase === 'Failed') throw new Error(`backup failed: ${m1.message}`);
    return m1?.phase === 'Completed' && m1.builtImages?.some((i) => i.pushed) ? b : undefined;
  },
  600_000,
  'backed up',
);

// Every timestamp is when this script saw it.
const seen = new Map<string, Record<string, number>>();
const mark = (restore: string, what: string) => {
  const m = seen.get(restore) ?? {};
  m[what] ??= Date.now();
  seen.set(restore, m);
};
const karmada = RestClient.fromFile(kubeconfigPath('karmada'));
const member2 = RestClient.fromFile(kubeconfigPath('member2'));
const label = 'migration.dcnlab.com/restore';
const hubPods = new Informer<Pod>(
  restListWatch(karmada, `/api/v1/namespaces/${ns}/pods`, { labelSelector: label }),
);
hubPods.on((_e, p) => {
  const r = p.metadata.labels?.[label];
  if (!r) return;
  mark(r, 'hubPod');
  if (running(p)) mark(r, 'statusBack');
});
const memberPods = new Informer<Pod>(
  restListWatch(member2, `/api/v1/namespaces/${ns}/pods`, { labelSelector: label }),
);
memberPods.on((_e, p) => {
  const r = p.metadata.labels?.[label];
  if (!r) return;
  mark(r, 'memberPod');
  if (running(p)) mark(r, 'running');
});
const cprs = new Informer<CheckpointRestore>(
  restListWatch(karmada, `/apis/migration.dcnlab.com/v1/namespaces/${ns}/checkpointrestores`),
);
cprs.on((_e, r) => {
  if (r.status?.phase === 'Restored') mark(r.metadata.name, 'restored');
  if (r.status?.phase === 'Failed') mark(r.metadata.name, 'failed');
});
await Promise.all([hubPods.start(), memberPods.start(), cprs.start()]);

const rows: string[][] = [];
const controller: number[] = [];
const ms = (a?: number, b?: number) => (a !== undefined && b !== undefined ? b - a : NaN);
for (let i = 0; i < restores; i++) {
  const name = `r${i}`;
  say(`restore ${name}`);
  mark(name, 'apply');
  await karmada.request('POST', `/apis/migration.dcnlab.com/v1/namespaces/${ns}/checkpointrestores`, {
    body: {
      apiVersion: 'migration.dcnlab.com/v1',
      kind: 'CheckpointRestore',
      metadata: { name, namespace: ns },
      spec: { backupRef: { name: 'src' }, targetCluster: 'member2', podName: `restored-${name}` },
    },
  });
  await eventually(
    () => (seen.get(name)?.restored ?? seen.get(name)?.failed) || undefined,
    600_000,
    `${name} restored`,
  );
  const t = seen.get(name)!;
  if (t.failed) throw new Error(`${name} failed`);
  const submit = ms(t.apply, t.hubPod);
  const follow = ms(t.statusBack, t.restored);
  controller.push(submit + follow);
  rows.push([
    name,
    String(submit),
    String(ms(t.hubPod, t.memberPod)),
    String(ms(t.memberPod, t.running)),
    String(ms(t.running, t.statusBack)),
    String(follow),
    String(submit + follow),
    String(ms(t.apply, t.restored)),
  ]);
}
hubPods.stop();
memberPods.stop();
cprs.stop();
const sorted = [...controller].sort((a, b) => a - b);
const header = [
  'restore',
  'submit ms (ours)',
  'propagate ms (Karmada)',
  'runtime ms (pull + restore)',
  'status back ms (Karmada)',
  'follow ms (ours)',
  'ours ms',
  'apply -> Restored ms',
];
process.stdout.write(
  table(header, rows) + `\nours (submit + follow) p50: ${sorted[Math.floor((sorted.length - 1) / 2)]} ms\n`,
);
await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
process.exit(0);
