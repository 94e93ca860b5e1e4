// suite: alone — fails and heals member2 (fed fail/heal); moves the hub's pod out of member2 on a --chart-hub federation whose hub runs there
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CheckpointRestore } from '@stateful-migration/api';
import { hubPodAwayFrom } from '../fed/chart-hub.js';
import { kubectl } from '../fed/kubectl.js';
import { fedCli, healedAndReady, memberSeen } from '../fed/outage.js';
import { registryInfo, registrySecretYaml } from './agent-support.js';
import { eventually, reasonsWhen, unique } from './support.js';

/**
 * A workload migration whose target stops answering (`pnpm fed fail member2`) does not trap its restore
 * (docs/adr/0007 Decision 3, 6): it waits, saying so, fails ClusterLost after spec.timeoutSeconds with what it could
 * not clean up in member2 recorded in status.cleanupSkipped and an Event; the source's workload is let go (it was
 * never placed in member2); the restore can be deleted while member2 is still down; once member2 is back, the
 * hub's sweep removes the webhook configuration left there. Run with exactly the shipped RBAC (the fed's hub).
 */
const ns = unique('lost');
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);
const config = `stateful-migration.${ns}.move`;

const getRestore = async (): Promise<CheckpointRestore> =>
  JSON.parse(await hub(['get', 'cpr', 'move', '-n', ns, '-o', 'json'])) as CheckpointRestore;
const configIn = (member: string) =>
  kubectl(member, ['get', 'mutatingwebhookconfiguration', config, '-o', 'name']).then(
    () => true,
    () => false,
  );

describe('a workload migration whose target is lost', () => {
  let hubBack: (() => Promise<void>) | undefined;
  before(async () => {
    // The hub must outlive member2's outage (its pod, on a --chart-hub federation whose hub runs in member2, would
    // be frozen with member2's containers): it is the hub that fails the restore and sweeps member2 afterwards.
    hubBack = await hubPodAwayFrom('member2');
    const user = registryInfo().users[0]!;
    await hub(['create', 'namespace', ns]);
    await hub(
      ['apply', '-f', '-'],
      `${registrySecretYaml(ns, 'push', user.username, user.password)}---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: ${ns}}
spec:
  replicas: 1
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - {name: counter, image: registry.local/counter:1}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: users, namespace: ${ns}}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: StatefulSet, name: db}]
  placement: {clusterAffinity: {clusterNames: [member1]}}
---
apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: db, namespace: ${ns}}
spec:
  schedule: "0 3 1 1 *"
  resourceRef: {apiVersion: apps/v1, kind: StatefulSet, name: db}
  registry: {url: "${registryInfo().url}", repository: lost/${ns}, secretRef: {name: push}}
`,
    );
    await eventually(
      async () =>
        (await kubectl('member1', ['get', 'pod', 'db-0', '-n', ns, '-o', 'jsonpath={.status.phase}']).catch(
          () => '',
        )) === 'Running' || undefined,
      120_000,
      'db-0 running in member1',
    );
  });
  after(async () => {
    await healedAndReady('member2');
    await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    await hubBack?.();
  });

  it('waits, fails ClusterLost recording what was left, lets the source go, and can be deleted while member2 is down', async () => {
    await hub(
      ['apply', '-f', '-'],
      `apiVersion: migration.dcnlab.com/v1
kind: CheckpointRestore
metadata: {name: move, namespace: ${ns}}
spec: {backupRef: {name: db}, targetCluster: member2, mode: Migrate, timeoutSeconds: 20}
`,
    );
    await eventually(async () => (await configIn('member2')) || undefined, 60_000, `${config} in member2`);
    const r = fedCli('fail', 'member2');
    assert.equal(r.status, 0, r.stderr);
    await eventually(
      async () => (!(await memberSeen('member2')).ready ? true : undefined),
      180_000,
      'Karmada to see member2 not Ready',
    );
    const failed = await eventually(
      async () => {
        const x = await getRestore();
        return x.status?.phase === 'Failed' ? x : undefined;
      },
      120_000,
      'the restore to fail',
    );
    assert.equal(failed.status?.reason, 'ClusterLost', failed.status?.message);
    assert.match(failed.status?.message ?? '', /member2 has been unreachable for more than 20s/);
    // Whether the migration had placed the workload in member2 before Karmada saw it lost depends on timing: if it
    // had, member2 may run it, and member1's held pods keep their gate (GatesKept); if not, member1 is let go.
    const placed = !!failed.status?.workload?.placedTime;
    assert.deepEqual(
      failed.status?.cleanupSkipped?.map((x) => [x.cluster, x.reason]),
      [...(placed ? [['member1', 'GatesKept']] : []), ['member2', 'ClusterLost']],
    );
    // Fails unless both Events come.
    await reasonsWhen('karmada', ns, 'move', ['ClusterLost', 'CleanupSkipped']);
    // member1 answers: its webhook configuration is gone; no pod of db there runs beside what member2 may run.
    assert.equal(await configIn('member1'), false);
    const m1 = JSON.parse(
      await kubectl('member1', ['get', 'pods', '-n', ns, '-l', 'app=db', '-o', 'json']),
    ) as {
      items: { metadata: { name: string }; spec: { schedulingGates?: { name: string }[] } }[];
    };
    for (const p of m1.items)
      assert.equal(
        !!p.spec.schedulingGates?.length,
        placed,
        `${p.metadata.name} in member1 is ${placed ? 'held' : 'let go'}`,
      );

    await hub(['delete', 'cpr', 'move', '-n', ns, '--timeout=60s']);
    assert.equal(
      await hub(['get', 'cpr', 'move', '-n', ns, '-o', 'name']).then(
        () => 'there',
        () => 'gone',
      ),
      'gone',
    );

    const healed = fedCli('heal', 'member2');
    assert.equal(healed.status, 0, healed.stderr);
    await eventually(
      async () => ((await memberSeen('member2')).ready ? true : undefined),
      120_000,
      'member2 Ready again',
    );
    await eventually(
      async () => ((await configIn('member2')) ? undefined : true),
      120_000,
      `the hub to sweep ${config} from member2`,
    );
  });
});
