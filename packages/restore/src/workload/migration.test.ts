import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReplicaStatus } from '@stateful-migration/api';
import {
  RESTORED_FROM_ANNOTATION,
  SOURCE_STOPPED_GATE,
  checkpointFor,
  migrationPolicy,
  podPatch,
} from './migration.js';

const img = (c: string, digest: string | undefined, pushed = true) => ({
  containerName: c,
  imageName: `reg:5000/cp/checkpoint-x-${c}:run1`,
  ...(digest ? { digest } : {}),
  buildTime: 't',
  pushed,
});
const replica = (
  pod: string,
  ordinal?: number,
  images = [img('counter', `sha256:${pod}`)],
): ReplicaStatus => ({
  pod,
  backup: `b-${pod}`,
  phase: 'Completed',
  present: false,
  ...(ordinal !== undefined ? { ordinal } : {}),
  images,
});

describe("the migration's PropagationPolicy", () => {
  const base = {
    restore: { name: 'move', uid: 'r-uid' },
    workload: { apiVersion: 'apps/v1', kind: 'StatefulSet' as const, name: 'db', namespace: 'shop' },
    target: 'member2',
  };
  it('selects exactly the workload, in the target only, one above every competing priority, preempting', () => {
    const p = migrationPolicy({ ...base, competing: [{ name: 'user', priority: 5 }, { name: 'other' }] }) as {
      metadata: { name: string; namespace: string; ownerReferences: { uid: string }[] };
      spec: Record<string, unknown>;
    };
    assert.equal(p.metadata.name, 'checkpointrestore-move');
    assert.equal(p.metadata.namespace, 'shop');
    assert.equal(p.metadata.ownerReferences[0]!.uid, 'r-uid');
    assert.deepEqual(p.spec, {
      resourceSelectors: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' }],
      priority: 6,
      preemption: 'Always',
      placement: { clusterAffinity: { clusterNames: ['member2'] } },
    });
  });
  it('priority 1 over a policy without one (Karmada defaults it to 0), and over none; never below 1', () => {
    const pr = (competing: { name: string; priority?: number }[]) =>
      (migrationPolicy({ ...base, competing }) as { spec: { priority: number } }).spec.priority;
    assert.equal(pr([{ name: 'user' }]), 1);
    assert.equal(pr([]), 1);
    assert.equal(pr([{ name: 'user', priority: -3 }]), 1);
  });
});

describe('which checkpoint a pod in the target gets', () => {
  const sts = { kind: 'StatefulSet' as const, name: 'db' };
  const web = { kind: 'Deployment' as const, name: 'web' };
  const replicas = [replica('db-0', 0), replica('db-1', 1)];
  const pick = (w: typeof sts | typeof web, pod: string, rs: ReplicaStatus[], used: string[] = []) =>
    checkpointFor({ workload: w, pod, containers: ['counter'], replicas: rs, used: new Set(used) });

  it('StatefulSet: ordinal N from ordinal N, whatever the order or what is used', () => {
    assert.deepEqual(pick(sts, 'db-1', replicas), { replica: replicas[1] });
    assert.deepEqual(pick(sts, 'db-0', [...replicas].reverse(), ['db-0']), { replica: replicas[0] });
    assert.match(
      (pick(sts, 'db-2', replicas) as { none: string }).none,
      /no checkpoint of ordinal 2 \(db-2\)/,
    );
    assert.match(
      (pick(sts, 'dbx-0', replicas) as { none: string }).none,
      /not named like a pod of StatefulSet db/,
    );
  });
  it('a replica without a pushed image by digest for every container is never used', () => {
    const partial = [
      replica('db-0', 0, [img('counter', undefined)]),
      replica('db-1', 1, [img('counter', 'sha256:a', false)]),
    ];
    assert.match((pick(sts, 'db-0', partial) as { none: string }).none, /no pushed image of every container/);
    assert.match((pick(sts, 'db-1', partial) as { none: string }).none, /no pushed image of every container/);
    const twoContainers = checkpointFor({
      workload: sts,
      pod: 'db-0',
      containers: ['counter', 'side'],
      replicas,
      used: new Set(),
    });
    assert.ok('none' in twoContainers);
  });
  it('Deployment: one checkpoint per pod, the first unused by name, none once all are used', () => {
    const rs = [replica('web-b'), replica('web-a'), replica('web-c', undefined, [img('counter', undefined)])];
    assert.equal((pick(web, 'web-new-1', rs) as { replica: ReplicaStatus }).replica.pod, 'web-a');
    assert.equal((pick(web, 'web-new-2', rs, ['web-a']) as { replica: ReplicaStatus }).replica.pod, 'web-b');
    assert.match(
      (pick(web, 'web-new-3', rs, ['web-a', 'web-b']) as { none: string }).none,
      /every checkpoint of Deployment web already runs in a pod here/,
    );
  });
});

describe("the webhook's patch of a pod", () => {
  const pod = (spec: Record<string, unknown> = {}, annotations?: Record<string, string>) => ({
    metadata: { ...(annotations ? { annotations } : {}) },
    spec: {
      containers: [
        { name: 'counter', image: 'registry.local/counter:1' },
        { name: 'other', image: 'x' },
      ],
      ...spec,
    },
  });
  it('images by digest, pull secret, gate, restore affinity, the replica named', () => {
    const ops = podPatch(pod({}, { a: 'b' }), replica('db-0', 0), 'move-registry-pull', true);
    assert.deepEqual(ops, [
      {
        op: 'replace',
        path: '/spec/containers/0/image',
        value: 'reg:5000/cp/checkpoint-x-counter@sha256:db-0',
      },
      { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'move-registry-pull' }] },
      { op: 'add', path: '/spec/schedulingGates', value: [{ name: SOURCE_STOPPED_GATE }] },
      {
        op: 'add',
        path: '/spec/affinity',
        value: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                {
                  matchExpressions: [
                    {
                      key: 'migration.dcnlab.com/checkpoint-restore',
                      operator: 'In',
                      values: ['checkpoint_restore'],
                    },
                  ],
                },
              ],
            },
          },
        },
      },
      { op: 'add', path: '/metadata/annotations', value: { a: 'b', [RESTORED_FROM_ANNOTATION]: 'db-0' } },
    ]);
  });
  it("keeps the pod's own secrets, gates and affinity, adding the restore term to each required term", () => {
    const ops = podPatch(
      pod({
        imagePullSecrets: [{ name: 'mine' }, { name: 'move-registry-pull' }],
        schedulingGates: [{ name: 'theirs' }],
        affinity: {
          podAntiAffinity: { x: 1 },
          nodeAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1 }],
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
                { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n'] }] },
              ],
            },
          },
        },
      }),
      replica('db-0', 0),
      'move-registry-pull',
      false,
    );
    assert.ok(!ops.some((o) => o.path === '/spec/imagePullSecrets'), 'the secret is there already');
    assert.ok(!ops.some((o) => o.path === '/spec/schedulingGates'), 'no gate when the source is gone');
    const affinity = ops.find((o) => o.path === '/spec/affinity')!.value as {
      podAntiAffinity: unknown;
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: unknown;
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: { matchExpressions: { key: string }[]; matchFields?: unknown }[];
        };
      };
    };
    assert.deepEqual(affinity.podAntiAffinity, { x: 1 });
    assert.deepEqual(affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution, [{ weight: 1 }]);
    const terms = affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
    assert.deepEqual(
      terms.map((t) => t.matchExpressions.map((e) => e.key)),
      [['zone', 'migration.dcnlab.com/checkpoint-restore'], ['migration.dcnlab.com/checkpoint-restore']],
    );
    assert.ok(terms[1]!.matchFields);
    const gated = podPatch(pod({ schedulingGates: [{ name: 'theirs' }] }), replica('db-0', 0), 's', true);
    assert.deepEqual(gated.find((o) => o.path === '/spec/schedulingGates')!.value, [
      { name: 'theirs' },
      { name: SOURCE_STOPPED_GATE },
    ]);
  });
});
