import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReplicaStatus } from '@stateful-migration/api';
import {
  admitPod,
  ownerWorkload,
  type AdmissionRequest,
  type AdmittedPod,
  type MigrationInto,
} from './admission.js';
import { RESTORED_FROM_ANNOTATION, SOURCE_STOPPED_GATE } from './migration.js';

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
    assert.equal(ownerWorkload({ metadata: {}, spec: { containers: [] } }), undefined);
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
