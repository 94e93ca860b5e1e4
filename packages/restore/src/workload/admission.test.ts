import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  hubWebhookOwner,
  type CheckpointRestoreStatus,
  type ReplicaStatus,
  type WorkloadMigration,
} from '@stateful-migration/api';
import {
  admitPod,
  holdPod,
  ownerWorkload,
  roleOf,
  type AdmissionRequest,
  type AdmittedPod,
  type MigrationInto,
} from './admission.js';
import { dbMigration } from '../fixtures.test-support.js';
import { RESTORED_FROM_ANNOTATION, SOURCE_STOPPED_GATE } from './migration.js';
import { webhookConfiguration } from './webhook-config.js';

const replica = (pod: string, ordinal?: number): ReplicaStatus => ({
  pod,
  backup: `b-${pod}`,
  phase: 'Completed',
  present: false,
  ...(ordinal !== undefined ? { ordinal } : {}),
  images: [
    {
      containerName: 'counter',
      imageName: `reg/cp/c-${pod}:r1`,
      digest: `sha256:${pod}`,
      buildTime: 't',
      pushed: true,
    },
  ],
});
const stsPod = (name: string): AdmittedPod => ({
  metadata: {
    name,
    namespace: 'shop',
    ownerReferences: [{ kind: 'StatefulSet', name: 'db', controller: true }],
  },
  spec: { containers: [{ name: 'counter', image: 'registry.local/counter:1' }] },
});
const deployPod: AdmittedPod = {
  metadata: {
    generateName: 'web-7d9f-',
    namespace: 'shop',
    labels: { 'pod-template-hash': '7d9f' },
    ownerReferences: [{ kind: 'ReplicaSet', name: 'web-7d9f', controller: true }],
  },
  spec: { containers: [{ name: 'counter', image: 'registry.local/counter:1' }] },
};
const req = (object: AdmittedPod, over: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  uid: 'u1',
  operation: 'CREATE',
  namespace: 'shop',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  object,
  ...over,
});
const migrations: MigrationInto[] = [
  {
    restore: 'move-db',
    workload: { kind: 'StatefulSet', name: 'db', namespace: 'shop' },
    replicas: [replica('db-0', 0), replica('db-1', 1)],
    pullSecret: 'move-db-registry-pull',
    sourceMayRun: true,
  },
  {
    restore: 'move-web',
    workload: { kind: 'Deployment', name: 'web', namespace: 'shop' },
    replicas: [replica('web-7d9f-a'), replica('web-7d9f-b')],
    pullSecret: 'move-web-registry-pull',
    sourceMayRun: false,
  },
];
const ops = (patch?: string) =>
  JSON.parse(Buffer.from(patch ?? 'W10=', 'base64').toString()) as { path: string; value: unknown }[];

describe('the webhook answer to a pod CREATE', () => {
  it('names the workload from the controller ownerReference', () => {
    assert.deepEqual(ownerWorkload(stsPod('db-0')), { kind: 'StatefulSet', name: 'db' });
    assert.deepEqual(ownerWorkload(deployPod), { kind: 'Deployment', name: 'web' });
    assert.equal(ownerWorkload({ ...deployPod, metadata: { ...deployPod.metadata, labels: {} } }), undefined);
    assert.equal(ownerWorkload({ metadata: {} }), undefined);
  });

  it('a StatefulSet pod gets its own ordinal checkpoint by digest, gated while the source may run', () => {
    const a = admitPod(req(stsPod('db-1')), migrations, new Set());
    assert.equal(a.assigned, 'db-1');
    assert.equal(a.response.allowed, true);
    assert.equal(a.response.uid, 'u1');
    assert.equal(a.response.patchType, 'JSONPatch');
    const p = ops(a.response.patch);
    assert.equal(p.find((o) => o.path === '/spec/containers/0/image')?.value, 'reg/cp/c-db-1@sha256:db-1');
    assert.deepEqual(p.find((o) => o.path === '/spec/schedulingGates')?.value, [
      { name: SOURCE_STOPPED_GATE },
    ]);
    assert.deepEqual(p.find((o) => o.path === '/spec/imagePullSecrets')?.value, [
      { name: 'move-db-registry-pull' },
    ]);
    assert.equal(
      (p.find((o) => o.path === '/metadata/annotations')?.value as Record<string, string>)[
        RESTORED_FROM_ANNOTATION
      ],
      'db-1',
    );
  });

  it('Deployment pods (no name yet) take the checkpoints one each, ungated once the source is gone', () => {
    const first = admitPod(req(deployPod), migrations, new Set());
    assert.equal(first.assigned, 'web-7d9f-a');
    assert.ok(!ops(first.response.patch).some((o) => o.path === '/spec/schedulingGates'));
    assert.equal(admitPod(req(deployPod), migrations, new Set(['web-7d9f-a'])).assigned, 'web-7d9f-b');
    const third = admitPod(req(deployPod), migrations, new Set(['web-7d9f-a', 'web-7d9f-b']));
    assert.equal(third.assigned, undefined);
    assert.equal(third.response.patch, undefined, 'from its image, and no gate: the source is gone');
    assert.match(
      third.response.warnings![0]!,
      /^CheckpointRestore move-web: this pod starts from its image: every checkpoint/,
    );
  });

  it('a pod of a migrating workload without a checkpoint still waits for the source, with a warning', () => {
    const a = admitPod(req(stsPod('db-5')), migrations, new Set());
    assert.equal(a.assigned, undefined);
    assert.deepEqual(ops(a.response.patch), [
      { op: 'add', path: '/spec/schedulingGates', value: [{ name: SOURCE_STOPPED_GATE }] },
    ]);
    assert.match(a.response.warnings![0]!, /no checkpoint of ordinal 5/);
  });

  it('anything else is allowed unchanged', () => {
    const plain = { uid: 'u1', allowed: true };
    const other: AdmittedPod = {
      ...stsPod('x-0'),
      metadata: {
        ...stsPod('x-0').metadata,
        ownerReferences: [{ kind: 'StatefulSet', name: 'x', controller: true }],
      },
    };
    assert.deepEqual(admitPod(req(other), migrations, new Set()).response, plain);
    assert.deepEqual(
      admitPod(req(stsPod('db-0'), { namespace: 'other' }), migrations, new Set()).response,
      plain,
    );
    assert.deepEqual(
      admitPod(req(stsPod('db-0'), { operation: 'UPDATE' }), migrations, new Set()).response,
      plain,
    );
    assert.deepEqual(
      admitPod(
        req(stsPod('db-0'), { kind: { group: 'apps', version: 'v1', kind: 'Pod' } }),
        migrations,
        new Set(),
      ).response,
      plain,
    );
    assert.deepEqual(admitPod(req(stsPod('db-0')), [], new Set()).response, plain);
    const noObject = req(stsPod('db-0'));
    delete noObject.object;
    assert.deepEqual(admitPod(noObject, migrations, new Set()).response, plain);
  });
});

describe('roleOf: which migration a pod belongs to in the cluster that asks', () => {
  const workload: WorkloadMigration = dbMigration({ policy: 'checkpointrestore-move-db' });
  const restore = (over: Partial<CheckpointRestoreStatus> = {}, w: Partial<WorkloadMigration> = {}) => ({
    metadata: { name: 'move-db', namespace: 'shop' },
    status: {
      phase: 'RestoreInProgress' as const,
      workload: { ...workload, ...w },
      replicas: [
        {
          name: 'db-0',
          ordinal: 0,
          images: [{ containerName: 'counter', image: 'reg/cp/c-db-0@sha256:db-0' }],
          phase: 'Pending' as const,
        },
      ],
      ...over,
    },
  });

  it('into: its checkpoint, gated until the source stopped, pinned to spec.targetNode', () => {
    const role = roleOf('member2', req(stsPod('db-0')), [restore()]);
    assert.equal(role?.role, 'into');
    const m = (role as { migration: MigrationInto }).migration;
    assert.equal(m.pullSecret, 'move-db-registry-pull');
    assert.equal(m.sourceMayRun, true);
    assert.equal(m.replicas[0]!.images![0]!.digest, 'sha256:db-0');
    const stopped = roleOf('member2', req(stsPod('db-0')), [
      restore({}, { fromStoppedTime: 't', targetNode: 'm2-a' }),
    ]);
    assert.equal((stopped as { migration: MigrationInto }).migration.sourceMayRun, false);
    assert.equal((stopped as { migration: MigrationInto }).migration.node, 'm2-a');
  });

  it('from: held; before the checkpoints are recorded, held in both', () => {
    assert.deepEqual(roleOf('member1', req(stsPod('db-0')), [restore()]), {
      role: 'from',
      restore: 'move-db',
    });
    assert.deepEqual(
      roleOf('member2', req(stsPod('db-0')), [restore({ phase: 'Checkpointing', replicas: [] })]),
      {
        role: 'from',
        restore: 'move-db',
      },
    );
    const held = holdPod(req(stsPod('db-0')), 'move-db');
    assert.deepEqual(ops(held.patch), [
      { op: 'add', path: '/spec/schedulingGates', value: [{ name: SOURCE_STOPPED_GATE }] },
    ]);
    assert.match(held.warnings![0]!, /CheckpointRestore move-db is migrating/);
    const gatedPod = stsPod('db-0');
    gatedPod.spec.schedulingGates = [{ name: SOURCE_STOPPED_GATE }];
    assert.equal(holdPod(req(gatedPod), 'move-db').patch, undefined, 'held once');
  });

  it('none: another cluster, namespace or workload, a finished migration, or a pod already given its checkpoint', () => {
    assert.equal(roleOf('member3', req(stsPod('db-0')), [restore()]), undefined);
    assert.equal(roleOf('member2', req(stsPod('db-0'), { namespace: 'other' }), [restore()]), undefined);
    assert.equal(roleOf('member2', req(deployPod), [restore()]), undefined);
    assert.equal(roleOf('member2', req(stsPod('db-0')), [restore({ phase: 'SourceStopped' })]), undefined);
    // Two migrations' configurations in one namespace both send a pod: the second call never gives another checkpoint.
    const given = stsPod('db-0');
    given.metadata.annotations = { [RESTORED_FROM_ANNOTATION]: 'db-0' };
    assert.equal(roleOf('member2', req(given), [restore()]), undefined);
  });
});

describe('the webhook configuration in a member', () => {
  const c = webhookConfiguration({
    namespace: 'shop',
    restore: 'move-web',
    cluster: 'member2',
    workload: { kind: 'Deployment', name: 'web' },
    endpoint: { url: 'https://hub.example:8443', caBundle: 'PEM' },
    ownerLabel: { 'migration.dcnlab.com/restore-owner': 'shop.move-web' },
    owner: hubWebhookOwner('policy-uid'),
  }) as unknown as {
    metadata: { name: string; ownerReferences: unknown[] };
    webhooks: {
      clientConfig: { url: string; caBundle: string };
      namespaceSelector: unknown;
      matchConditions: { expression: string }[];
      failurePolicy: string;
      rules: { operations: string[]; resources: string[] }[];
    }[];
  };
  it("calls the hub with its cluster in the path, for the workload's pods in the namespace only, and fails closed", () => {
    assert.equal(c.metadata.name, 'stateful-migration.shop.move-web');
    assert.deepEqual(c.metadata.ownerReferences, [hubWebhookOwner('policy-uid')], 'gone with the chart');
    const w = c.webhooks[0]!;
    assert.equal(w.clientConfig.url, 'https://hub.example:8443/mutate/pods/member2');
    assert.equal(Buffer.from(w.clientConfig.caBundle, 'base64').toString(), 'PEM');
    assert.deepEqual(w.namespaceSelector, { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } });
    assert.deepEqual(w.rules[0]!.operations, ['CREATE']);
    assert.deepEqual(w.rules[0]!.resources, ['pods']);
    assert.equal(w.failurePolicy, 'Fail');
  });
});

/**
 * The matchCondition evaluated on pods: its CEL is the small subset has(), exists(), in, ==, +, && and so reads as
 * JavaScript once has() and exists() are spelled as JavaScript (the expression is ours, not input).
 */
function matches(expression: string, pod: unknown): boolean {
  const js = expression
    .replace(/has\(([\w.]+)\)/g, '($1 !== undefined)')
    .replace(/\.exists\(o, /g, '.some((o) => ');
  return Boolean(new Function('object', `return ${js};`)(pod));
}

describe('which pods a member sends to the hub (matchConditions)', () => {
  const condition = (kind: 'Deployment' | 'StatefulSet', name: string) =>
    (
      webhookConfiguration({
        namespace: 'shop',
        restore: 'move',
        cluster: 'member2',
        workload: { kind, name },
        endpoint: { url: 'https://hub.example:8443', caBundle: 'PEM' },
        ownerLabel: {},
        owner: hubWebhookOwner('policy-uid'),
      }) as unknown as { webhooks: { matchConditions: { expression: string }[] }[] }
    ).webhooks[0]!.matchConditions[0]!.expression;
  const pod = (owner: { kind: string; name: string; controller?: boolean }, hash?: string) => ({
    metadata: { ownerReferences: [owner], ...(hash ? { labels: { 'pod-template-hash': hash } } : {}) },
  });
  it("a Deployment's: only pods of its own ReplicaSets (<name>-<pod-template-hash>), not another Deployment's named <name>-...", () => {
    const web = condition('Deployment', 'web');
    assert.equal(matches(web, pod({ kind: 'ReplicaSet', name: 'web-5d8f', controller: true }, '5d8f')), true);
    // Deployment web-api's pods: with failurePolicy Fail they would wait for the hub (and fail while it is away)
    // though no migration concerns them.
    assert.equal(
      matches(web, pod({ kind: 'ReplicaSet', name: 'web-api-7c9b', controller: true }, '7c9b')),
      false,
    );
    assert.equal(
      matches(web, pod({ kind: 'ReplicaSet', name: 'web-5d8f' }, '5d8f')),
      false,
      'not its controller',
    );
    assert.equal(matches(web, pod({ kind: 'ReplicaSet', name: 'web-5d8f', controller: true })), false);
    assert.equal(matches(web, { metadata: {} }), false);
  });
  it("a StatefulSet's: only pods it controls", () => {
    const db = condition('StatefulSet', 'db');
    assert.equal(matches(db, pod({ kind: 'StatefulSet', name: 'db', controller: true })), true);
    assert.equal(matches(db, pod({ kind: 'StatefulSet', name: 'db-2', controller: true })), false);
    assert.equal(matches(db, pod({ kind: 'ReplicaSet', name: 'db-5d8f', controller: true }, '5d8f')), false);
  });
});
