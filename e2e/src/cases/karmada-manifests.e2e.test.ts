// suite: alone — re-applies karmada/ and deploy/ (the agent's CRD, RBAC and propagation) over the chart's
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kubectl } from '../fed/kubectl.js';
import { repoRoot } from '../fed/paths.js';
import { runningPod } from './agent-support.js';
import { eventually, hubPolicyOf, unique } from './support.js';

const ns = unique('hubflow');
const file = (p: string): string => readFileSync(join(repoRoot, p), 'utf8');

type Binding = {
  status?: {
    aggregatedStatus?: {
      clusterName: string;
      applied?: boolean;
      health?: string;
      status?: { phase?: string; builtImages?: unknown[] };
    }[];
  };
};

describe("karmada/: the agent's objects go to the members, and a CheckpointBackup's status comes back", () => {
  before(async () => {
    await kubectl(
      'karmada',
      ['apply', '-f', '-'],
      [
        file('karmada/crds/checkpointbackups.yaml'),
        file('deploy/namespace.yaml'),
        file('deploy/rbac.yaml'),
      ].join('\n---\n'),
    );
    await kubectl(
      'karmada',
      ['apply', '-f', '-'],
      [file('karmada/agent-propagation.yaml'), file('karmada/resource-interpreter.yaml')].join('\n---\n'),
    );
    await kubectl('karmada', ['create', 'namespace', ns]);
  });
  after(async () => {
    await kubectl('karmada', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('the ClusterPropagationPolicy applies the CRD and the agent RBAC in both members', async () => {
    for (const name of [
      'checkpointbackups.migration.dcnlab.com-customresourcedefinition',
      'checkpoint-backup-agent-clusterrole',
    ]) {
      await eventually(
        async () => {
          const b = JSON.parse(
            await kubectl('karmada', ['get', 'clusterresourcebinding', name, '-o', 'json']),
          ) as Binding;
          const applied = (b.status?.aggregatedStatus ?? [])
            .filter((s) => s.applied)
            .map((s) => s.clusterName)
            .sort();
          return applied.join(',') === 'member1,member2' ? true : undefined;
        },
        60_000,
        `${name} applied in both members`,
      );
    }
  });

  it('a CheckpointBackup propagated to member1 is checkpointed there, and its status is reflected to the hub binding', async () => {
    await kubectl(
      'karmada',
      ['apply', '-f', '-'],
      `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${ns}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: "registry.local/app:1"}]}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: web, namespace: ${ns}}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: web}]
  placement: {clusterAffinity: {clusterNames: [member1]}}
`,
    );
    const pod = await runningPod('member1', ns, 'web');
    await kubectl(
      'karmada',
      ['apply', '-f', '-'],
      `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: web-now, namespace: ${ns}}
spec:
  schedule: immediately
  podRef: {name: ${pod}}
  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: web}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: web-now, namespace: ${ns}}
spec:
  resourceSelectors: [{apiVersion: migration.dcnlab.com/v1, kind: CheckpointBackup, name: web-now}]
  placement: {clusterAffinity: {clusterNames: [member1]}}
`,
    );
    const b = await eventually(
      async () => {
        const rb = JSON.parse(
          await kubectl('karmada', [
            'get',
            'resourcebinding',
            'web-now-checkpointbackup',
            '-n',
            ns,
            '-o',
            'json',
          ]),
        ) as Binding;
        const m1 = rb.status?.aggregatedStatus?.find((s) => s.clusterName === 'member1');
        return m1?.status?.phase === 'Completed' ? rb : undefined;
      },
      90_000,
      "member1's Completed status on the hub binding",
    );
    const m1 = b.status!.aggregatedStatus!.find((s) => s.clusterName === 'member1')!;
    assert.equal(m1.health, 'Healthy');
    assert.equal(m1.status?.builtImages?.length, 1);
    assert.deepEqual(
      b.status?.aggregatedStatus?.map((s) => s.clusterName),
      ['member1'],
    );
    assert.equal(
      (await kubectl('member2', ['get', 'cpb', 'web-now', '-n', ns, '--ignore-not-found'])).trim(),
      '',
    );
    // The user's policy wins: the hub writes no policy of its own and only reports the status.
    const hubView = await eventually(
      async () => {
        const o = JSON.parse(await kubectl('karmada', ['get', 'cpb', 'web-now', '-n', ns, '-o', 'json'])) as {
          status?: { phase?: string; placement?: { by?: string; policy?: string; clusters?: string[] } };
        };
        return o.status?.phase === 'Completed' && o.status.placement?.by === 'policy' ? o : undefined;
      },
      60_000,
      'the hub reporting Completed under the user policy',
    );
    assert.deepEqual(hubView.status?.placement, {
      by: 'policy',
      policy: `PropagationPolicy/${ns}/web-now`,
      clusters: ['member1'],
    });
    await eventually(
      async () =>
        !(await kubectl('karmada', ['get', 'pp', '-n', ns, '-o', 'name'])).includes('checkpointbackups-') &&
        (await hubPolicyOf(ns, 'web-now')) === '',
      30_000,
      'no hub policy for an object a user policy selects',
    );
  });
});
