import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  PINNED_IMAGES_ANNOTATION,
  RESTORE_PINNED_IMAGES_ANNOTATION,
  WORKLOAD_BACKUP_LABEL,
  type CheckpointBackup,
  type CheckpointBackupStatus,
} from '@stateful-migration/api';
import {
  KEEP_GONE_REPLICAS,
  belongsTo,
  childDrift,
  childName,
  desiredChild,
  isChildOf,
  ordinalOf,
  parentKey,
  replicaStatus,
  staleChildren,
  workloadStatus,
  type MemberPod,
} from './replicas.js';

const owner = (kind: string, name: string, controller = true) => ({
  apiVersion: 'apps/v1',
  kind,
  name,
  uid: `u-${name}`,
  controller,
});
const pod = (
  name: string,
  o: {
    ns?: string;
    owner?: ReturnType<typeof owner>;
    labels?: Record<string, string>;
    node?: string;
    deleting?: boolean;
  } = {},
): MemberPod => ({
  metadata: {
    name,
    namespace: o.ns ?? 'shop',
    uid: `uid-${name}`,
    ...(o.labels ? { labels: o.labels } : {}),
    ...(o.owner ? { ownerReferences: [o.owner] } : {}),
    ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
  },
  spec: { ...(o.node ? { nodeName: o.node } : {}) },
});
const sts = { kind: 'StatefulSet', name: 'db', namespace: 'shop' };
const deploy = { kind: 'Deployment', name: 'web', namespace: 'shop' };

describe('which pods belong to a workload', () => {
  const cases: [string, MemberPod, typeof sts, boolean][] = [
    ['a StatefulSet pod', pod('db-0', { owner: owner('StatefulSet', 'db') }), sts, true],
    ['another StatefulSet', pod('dbx-0', { owner: owner('StatefulSet', 'dbx') }), sts, false],
    ['not the controller owner', pod('db-0', { owner: owner('StatefulSet', 'db', false) }), sts, false],
    ['another namespace', pod('db-0', { ns: 'other', owner: owner('StatefulSet', 'db') }), sts, false],
    ['no owner', pod('db-0'), sts, false],
    ['a ReplicaSet pod for a StatefulSet', pod('db-0', { owner: owner('ReplicaSet', 'db') }), sts, false],
    [
      "a Deployment's pod (ReplicaSet <name>-<hash>)",
      pod('web-7d9f-abcde', {
        owner: owner('ReplicaSet', 'web-7d9f'),
        labels: { 'pod-template-hash': '7d9f' },
      }),
      deploy,
      true,
    ],
    [
      'a ReplicaSet whose name is not <deployment>-<hash>',
      pod('web-x', { owner: owner('ReplicaSet', 'web-other-7d9f'), labels: { 'pod-template-hash': '7d9f' } }),
      deploy,
      false,
    ],
    [
      'a ReplicaSet of a Deployment whose name starts the same (web-api)',
      pod('web-api-7d9f-a', {
        owner: owner('ReplicaSet', 'web-api-7d9f'),
        labels: { 'pod-template-hash': '7d9f' },
      }),
      deploy,
      false,
    ],
    [
      'a ReplicaSet pod without the hash label',
      pod('web-7d9f-a', { owner: owner('ReplicaSet', 'web-7d9f') }),
      deploy,
      false,
    ],
    [
      'a StatefulSet pod for a Deployment',
      pod('web-0', { owner: owner('StatefulSet', 'web') }),
      deploy,
      false,
    ],
    [
      'a DaemonSet',
      pod('ds-a', { owner: owner('DaemonSet', 'ds') }),
      { ...sts, kind: 'DaemonSet', name: 'ds' },
      false,
    ],
  ];
  for (const [what, p, w, want] of cases) it(`${what}: ${want}`, () => assert.equal(belongsTo(p, w), want));
});

describe('ordinals, names, parents', () => {
  it('reads the pod-index label, else the name after <sts>-', () => {
    assert.equal(ordinalOf({ name: 'db-3', labels: { 'apps.kubernetes.io/pod-index': '7' } }, 'db'), 7);
    assert.equal(ordinalOf({ name: 'db-3' }, 'db'), 3);
    assert.equal(ordinalOf({ name: 'db-x' }, 'db'), undefined);
    assert.equal(ordinalOf({ name: 'dbx-3' }, 'db'), undefined);
    assert.equal(ordinalOf({ name: 'db-3', labels: { 'apps.kubernetes.io/pod-index': 'x' } }, 'db'), 3);
  });

  it('names a child <parent>-<pod>, and a valid unique name when that is too long', () => {
    assert.equal(childName('db-backup', 'db-0'), 'db-backup-db-0');
    // A valid pod name whose cut (at 120) ends in a dot: the dot goes.
    const long = childName('a'.repeat(200), `${'b'.repeat(119)}.${'c'.repeat(100)}`);
    assert.ok(long.length <= 253);
    assert.match(long, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    assert.doesNotMatch(long, /[.-]{2}/);
    assert.notEqual(long, childName('a'.repeat(200), `${'b'.repeat(119)}.${'c'.repeat(99)}d`));
  });
});

const parent = (
  over: Partial<CheckpointBackup['spec']> = {},
  annotations?: Record<string, string>,
): CheckpointBackup => ({
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointBackup',
  metadata: {
    name: 'db-backup',
    namespace: 'shop',
    uid: 'p-uid',
    generation: 2,
    ...(annotations ? { annotations } : {}),
  },
  spec: {
    schedule: '*/5 * * * *',
    resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
    registry: { url: 'reg.example', repository: 'shop/cp', secretRef: { name: 'reg' } },
    placement: { clusterAffinity: { clusterNames: ['member1'] } },
    ...over,
  },
});

describe('the child of a pod', () => {
  it('is the parent spec for that pod, without placement, owned by the parent, with its pins', () => {
    const p = parent({}, { [PINNED_IMAGES_ANNOTATION]: 'run-1', other: 'x' });
    const c = desiredChild(p, 'db-0');
    assert.equal(c.metadata.name, 'db-backup-db-0');
    assert.equal(c.metadata.namespace, 'shop');
    assert.deepEqual(c.metadata.labels, { [WORKLOAD_BACKUP_LABEL]: 'db-backup' });
    assert.deepEqual(c.metadata.annotations, { [PINNED_IMAGES_ANNOTATION]: 'run-1' });
    assert.deepEqual(c.metadata.ownerReferences, [
      {
        apiVersion: 'migration.dcnlab.com/v1',
        kind: 'CheckpointBackup',
        name: 'db-backup',
        uid: 'p-uid',
        controller: true,
      },
    ]);
    assert.deepEqual(c.spec.podRef, { name: 'db-0' });
    assert.equal(c.spec.placement, undefined);
    assert.equal(c.spec.schedule, p.spec.schedule);
    assert.deepEqual(c.spec.registry, p.spec.registry);
    assert.ok(isChildOf(c, p));
    assert.ok(!isChildOf(c, { metadata: { ...p.metadata, uid: 'another' } }));
    assert.equal(parentKey(c), 'shop/db-backup');
    assert.equal(parentKey(p), undefined);
  });

  it('carries no label when the parent name is longer than a label value', () => {
    const p = parent();
    p.metadata.name = 'x'.repeat(64);
    assert.equal(desiredChild(p, 'db-0').metadata.labels, undefined);
  });

  it("leaves keepState on the parent: the CRD refuses it beside podRef, and it is the workload's", () => {
    const p = parent({
      keepState: { clusterFailover: { maxAgeSeconds: 300 }, eviction: { timeoutSeconds: 60 } },
    });
    const c = desiredChild(p, 'db-0');
    assert.equal(c.spec.keepState, undefined);
    assert.deepEqual(c.spec.podRef, { name: 'db-0' });
    assert.equal(childDrift(c, p), undefined, 'a child without it is in step');
    assert.deepEqual(childDrift({ ...c, spec: { ...c.spec, keepState: p.spec.keepState! } }, p), {
      spec: { keepState: null },
    });
  });

  it('follows the parent: nothing when in step, changed and dropped fields and pins otherwise', () => {
    const p = parent({}, { [RESTORE_PINNED_IMAGES_ANNOTATION]: 'a' });
    const c = desiredChild(p, 'db-0');
    assert.equal(childDrift(c, p), undefined);
    const p2 = parent(
      { schedule: 'immediately', registry: undefined as never, timeZone: 'Europe/Berlin' },
      {},
    );
    delete p2.spec.registry;
    assert.deepEqual(childDrift(c, p2), {
      metadata: { annotations: { [RESTORE_PINNED_IMAGES_ANNOTATION]: null } },
      spec: { schedule: 'immediately', registry: null, timeZone: 'Europe/Berlin' },
    });
  });
});

const child = (name: string, s: CheckpointBackupStatus | undefined): CheckpointBackup => ({
  ...desiredChild(parent(), name),
  ...(s ? { status: s } : {}),
});
const img = (c: string, tag: string) => ({
  containerName: c,
  imageName: `reg.example/shop/cp/checkpoint-x-${c}:${tag}`,
  digest: `sha256:${tag}`,
  buildTime: '2026-01-01T00:00:00Z',
  pushed: true,
});

describe('a replica entry', () => {
  it('takes node, ordinal, phase, newest image per container and the checkpointed pod', () => {
    const c = child('db-1', {
      phase: 'Completed',
      message: 'checkpointed app',
      lastCheckpointTime: '2026-01-01T00:05:00Z',
      run: { id: 'r2', startedAt: 'x', generation: 2, node: 'm1-a', containers: ['app'] },
      builtImages: [img('app', 'r1'), img('side', 'r1'), img('app', 'r2')],
      checkpointedPod: { name: 'db-1', namespace: 'shop', containers: [{ name: 'app', image: 'counter' }] },
    });
    const r = replicaStatus(c, pod('db-1', { node: 'm1-b' }), sts);
    assert.deepEqual(r, {
      pod: 'db-1',
      backup: 'db-backup-db-1',
      node: 'm1-b',
      ordinal: 1,
      phase: 'Completed',
      message: 'checkpointed app',
      present: true,
      lastCheckpointTime: '2026-01-01T00:05:00Z',
      images: [img('app', 'r2'), img('side', 'r1')],
      checkpointedPod: { name: 'db-1', namespace: 'shop', containers: [{ name: 'app', image: 'counter' }] },
    });
    // Gone: the node of its last run, not present.
    const gone = replicaStatus(c, undefined, sts);
    assert.equal(gone.node, 'm1-a');
    assert.equal(gone.present, false);
    assert.equal(replicaStatus(c, pod('db-1', { deleting: true }), sts).present, false);
    assert.equal(replicaStatus(child('web-a', undefined), pod('web-a'), deploy).ordinal, undefined);
    assert.equal(replicaStatus(child('db-0', undefined), pod('db-0'), sts).phase, 'Pending');
  });
});

describe("the parent's status from its replicas", () => {
  const pods = (...names: string[]) => new Map(names.map((n) => [n, pod(n, { node: 'm1-a' })]));
  const st = (
    phase: CheckpointBackupStatus['phase'],
    t?: string,
    message?: string,
  ): CheckpointBackupStatus => ({
    phase,
    ...(t ? { lastCheckpointTime: t } : {}),
    ...(message ? { message } : {}),
  });
  const run = (children: CheckpointBackup[], live: ReturnType<typeof pods>) =>
    workloadStatus({ parent: parent(), children, pods: live, now: new Date('2026-01-01T00:00:00Z') });

  it('no replica: Pending, saying whether pods exist', () => {
    assert.equal(run([], pods()).phase, 'Pending');
    assert.match(run([], pods()).message!, /no pod of StatefulSet\/db runs in this cluster/);
    assert.match(run([], pods('db-0')).message!, /1 pod\(s\) of StatefulSet\/db here, none checkpointed yet/);
    assert.equal(run([], pods()).replicasCompleted, '0/0');
  });

  const table: [string, (CheckpointBackupStatus | undefined)[], string, string][] = [
    ['all completed', [st('Completed'), st('Completed')], 'Completed', '2/2'],
    ['one with error', [st('Completed'), st('CompletedWithError')], 'CompletedWithError', '2/2'],
    ['one failed', [st('Completed'), st('Failed', undefined, 'boom')], 'Failed', '1/2'],
    ['one not yet run', [st('Completed'), undefined], 'Pending', '1/2'],
    ['least advanced', [st('ImagePushing'), st('Checkpointing'), st('Completed')], 'Checkpointing', '1/3'],
    ['failed wins over running', [st('Checkpointing'), st('Failed')], 'Failed', '0/2'],
  ];
  for (const [what, states, phase, counted] of table)
    it(`${what}: ${phase} ${counted}`, () => {
      const names = states.map((_, i) => `db-${i}`);
      const s = run(
        states.map((x, i) => child(names[i]!, x)),
        pods(...names),
      );
      assert.equal(s.phase, phase);
      assert.equal(s.replicasCompleted, counted);
      assert.equal(s.observedGeneration, 2);
      const cond = s.conditions!.find((c) => c.type === 'Completed')!;
      assert.equal(cond.status, ['Completed', 'CompletedWithError'].includes(phase) ? 'True' : 'False');
    });

  it('names failed pods in the message', () => {
    const s = run(
      [child('db-0', st('Completed')), child('db-1', st('Failed', undefined, 'kubelet said no'))],
      pods('db-0', 'db-1'),
    );
    assert.equal(s.message, '1/2 replicas failed: db-1: kubelet said no');
  });

  it('keeps gone replicas as records, counts only present ones, orders by ordinal', () => {
    const s = run(
      [
        child('db-10', st('Completed', '2026-01-01T00:10:00Z')),
        child('db-2', st('Failed', '2026-01-01T00:02:00Z')),
        child('db-1', st('Completed', '2026-01-01T00:01:00Z')),
      ],
      pods('db-1', 'db-10'),
    );
    assert.deepEqual(
      s.replicas!.map((r) => [r.pod, r.ordinal, r.present]),
      [
        ['db-1', 1, true],
        ['db-2', 2, false],
        ['db-10', 10, true],
      ],
    );
    // The gone replica's failure does not fail the workload.
    assert.equal(s.phase, 'Completed');
    assert.equal(s.replicasCompleted, '2/2');
    assert.equal(s.lastCheckpointTime, '2026-01-01T00:10:00Z');
  });

  it('next scheduled time is the soonest of the replicas', () => {
    const s = run(
      [
        child('db-0', { phase: 'Completed', nextScheduledTime: '2026-01-01T00:10:00Z' }),
        child('db-1', { phase: 'Completed', nextScheduledTime: '2026-01-01T00:05:00Z' }),
      ],
      pods('db-0', 'db-1'),
    );
    assert.equal(s.nextScheduledTime, '2026-01-01T00:05:00Z');
  });
});

describe('which children of gone pods go', () => {
  const at = (m: number) => `2026-01-01T00:${String(m).padStart(2, '0')}:00Z`;
  it('never-checkpointed gone ones, and gone ones beyond the newest kept; never a live or running one', () => {
    const live = new Map([['web-live', pod('web-live')]]);
    const gone = Array.from({ length: KEEP_GONE_REPLICAS + 2 }, (_, i) =>
      child(`web-g${i}`, { phase: 'Completed', lastCheckpointTime: at(i) }),
    );
    const children = [
      child('web-live', { phase: 'Completed', lastCheckpointTime: at(0) }),
      child('web-never', undefined),
      child('web-running', {
        phase: 'Checkpointing',
        run: { id: 'r', startedAt: at(0), generation: 1, node: 'n', containers: ['c'] },
      }),
      ...gone,
    ];
    const out = staleChildren(children, live).map((c) => c.spec.podRef!.name);
    assert.deepEqual(out, ['web-never', 'web-g1', 'web-g0']);
    assert.deepEqual(staleChildren(children.slice(0, 3), live), [children[1]]);
  });
});
