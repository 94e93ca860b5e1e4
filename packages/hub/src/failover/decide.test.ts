import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type {
  BuiltImage,
  CheckpointBackup,
  ClusterStatus,
  FailoverRecord,
  ReplicaStatus,
} from '@stateful-migration/api';
import type { NodeView } from '@stateful-migration/restore';
import { decideFailover, sameMove, type BindingSpec, type FailoverInput } from './decide.js';

const same = (r: FailoverRecord | undefined, b: BindingSpec) => sameMove(r, b, NOW, 300);

const NOW = new Date('2026-12-01T12:00:00Z');
const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString();

const image = (container: string, pod: string, over: Partial<BuiltImage> = {}): BuiltImage => ({
  containerName: container,
  imageName: `reg/shop/cp/checkpoint-${pod}-${container}:r1`,
  digest: `sha256:${pod}-${container}`,
  buildTime: ago(30),
  pushed: true,
  ...over,
});
const replica = (pod: string, ordinal?: number, over: Partial<ReplicaStatus> = {}): ReplicaStatus => ({
  pod,
  backup: `db-${pod}`,
  ...(ordinal !== undefined ? { ordinal } : {}),
  phase: 'Completed',
  present: true,
  lastCheckpointTime: ago(40),
  images: [image('counter', pod)],
  ...over,
});
const cluster = (
  name: string,
  replicas: ReplicaStatus[],
  phase: ClusterStatus['phase'] = 'Unknown',
): ClusterStatus => ({
  name,
  phase,
  applied: true,
  replicas,
});
const backup = (
  clusters: ClusterStatus[],
  spec: Partial<CheckpointBackup['spec']> = {},
): FailoverInput['backup'] => ({
  spec: {
    schedule: '* * * * *',
    resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
    registry: { url: 'reg', repository: 'shop/cp', secretRef: { name: 's' } },
    keepState: { clusterFailover: { maxAgeSeconds: 300 } },
    ...spec,
  },
  status: { clusters },
});
const restoring = (name: string, over: Partial<NodeView> = {}): NodeView => ({
  name,
  ready: true,
  cordoned: false,
  setting: 'checkpoint_restore',
  ...over,
});
const task = (from: string, over: Record<string, unknown> = {}) => ({
  fromCluster: from,
  reason: 'TaintUntolerated',
  producer: 'TaintManager',
  creationTimestamp: ago(20),
  ...over,
});
const moved = (clusters: BindingSpec['clusters'], from = ['member1']): BindingSpec => ({
  clusters,
  gracefulEvictionTasks: from.map((f) => task(f)),
});
const nodes = new Map<string, NodeView[]>([
  ['member1', [restoring('m1-a')]],
  ['member2', [restoring('m2-a'), restoring('m2-b', { setting: 'checkpoint_only' })]],
  ['member3', [restoring('m3-a')]],
]);
const sts3 = [replica('db-0', 0), replica('db-1', 1), replica('db-2', 2)];
/** Only member2 is Ready: member1 and member3 (and any cluster not named) are lost. */
const READY = new Set(['member2']);

function record(i: Partial<FailoverInput> & Pick<FailoverInput, 'backup' | 'binding'>): FailoverRecord {
  const d = decideFailover({ nodes, readyClusters: READY, now: NOW, ...i });
  assert.equal(d.kind, 'failover', JSON.stringify(d));
  return (d as { record: FailoverRecord }).record;
}
const outcome = (r: FailoverRecord) =>
  r.replicas.map((x) => [x.pod, x.toCluster ?? '-', x.images ? 'restored' : x.reason]);

describe('the hub decides whether a failover restores, and from what', () => {
  it('does nothing for a backup that did not opt in, or while Karmada has evicted nothing', () => {
    const b = backup([cluster('member1', sts3)]);
    const binding = moved([{ name: 'member2', replicas: 3 }]);
    for (const spec of [
      { keepState: undefined },
      { keepState: { eviction: { timeoutSeconds: 60 } } },
      { podRef: { name: 'db-0' } },
    ]) {
      const d = decideFailover({
        backup: backup([cluster('member1', sts3)], spec),
        binding,
        nodes,
        readyClusters: READY,
        now: NOW,
      });
      assert.deepEqual([d.kind, d.kind === 'none' && d.reason], ['none', 'NotOptedIn']);
    }
    for (const tasks of [undefined, []]) {
      const d = decideFailover({
        backup: b,
        binding: {
          clusters: [{ name: 'member1', replicas: 3 }],
          ...(tasks ? { gracefulEvictionTasks: tasks } : {}),
        },
        nodes,
        readyClusters: READY,
        now: NOW,
      });
      assert.deepEqual([d.kind, d.kind === 'none' && d.reason], ['none', 'NoEviction']);
    }
  });

  it('a StatefulSet moved whole: ordinal N from ordinal N, images by digest, the age of each state and the oldest', () => {
    const r = record({
      backup: backup([
        cluster('member1', [replica('db-1', 1, { lastCheckpointTime: ago(100) }), ...[sts3[0]!, sts3[2]!]]),
      ]),
      binding: moved([{ name: 'member2', replicas: 3 }]),
    });
    assert.deepEqual(outcome(r), [
      ['db-0', 'member2', 'restored'],
      ['db-1', 'member2', 'restored'],
      ['db-2', 'member2', 'restored'],
    ]);
    assert.deepEqual(
      r.replicas.map((x) => [x.ordinal, x.images![0]!.digest, x.stateAgeSeconds, x.backup]),
      [
        [0, 'sha256:db-0-counter', 40, 'db-db-0'],
        [1, 'sha256:db-1-counter', 100, 'db-db-1'],
        [2, 'sha256:db-2-counter', 40, 'db-db-2'],
      ],
    );
    assert.equal(r.replicas[1]!.checkpointTime, ago(100));
    assert.deepEqual(
      [
        r.time,
        r.decidedAt,
        r.fromClusters,
        r.toClusters,
        r.evictionReason,
        r.restored,
        r.startedFresh,
        r.stateAgeSeconds,
      ],
      [ago(20), NOW.toISOString(), ['member1'], ['member2'], 'TaintUntolerated', 3, 0, 100],
    );
    assert.equal(
      r.message,
      'moved from member1 to member2: 3 of 3 replicas restored (state up to 100 s old)',
    );
  });

  it('the age is never under-stated: images older than the last run (its push failed) count from their build', () => {
    const r = record({
      backup: backup([
        cluster('member1', [
          replica('db-0', 0, {
            lastCheckpointTime: ago(10),
            images: [image('counter', 'db-0', { buildTime: ago(250) })],
          }),
        ]),
      ]),
      binding: moved([{ name: 'member2', replicas: 1 }]),
    });
    assert.deepEqual([r.replicas[0]!.stateAgeSeconds, r.replicas[0]!.checkpointTime], [250, ago(250)]);
  });

  it('TooOld: older than maxAgeSeconds (the default 900 when none is written); exactly the limit is used', () => {
    const rs = [
      replica('db-0', 0, { lastCheckpointTime: ago(301) }),
      replica('db-1', 1, { lastCheckpointTime: ago(300) }),
    ];
    const r = record({
      backup: backup([cluster('member1', rs)]),
      binding: moved([{ name: 'member2', replicas: 2 }]),
    });
    assert.deepEqual(outcome(r), [
      ['db-0', 'member2', 'TooOld'],
      ['db-1', 'member2', 'restored'],
    ]);
    assert.match(
      r.replicas[0]!.message!,
      /is 301 s old, over keepState\.clusterFailover\.maxAgeSeconds 300: it starts fresh in member2/,
    );
    assert.deepEqual([r.restored, r.startedFresh, r.stateAgeSeconds], [1, 1, 300]);
    const byDefault = record({
      backup: backup(
        [
          cluster('member1', [
            replica('db-0', 0, { lastCheckpointTime: ago(901) }),
            replica('db-1', 1, { lastCheckpointTime: ago(899) }),
          ]),
        ],
        {
          keepState: { clusterFailover: {} },
        },
      ),
      binding: moved([{ name: 'member2', replicas: 2 }]),
    });
    assert.deepEqual(
      outcome(byDefault).map((o) => o[2]),
      ['TooOld', 'restored'],
    );
  });

  it('NoCheckpoint: no image, one not pushed, one without digest, or a container of the pod without an image', () => {
    const pod = (containers: string[]) => ({
      name: 'x',
      namespace: 'shop',
      containers: containers.map((name) => ({ name, image: 'i' })),
    });
    const rs = [
      replica('db-0', 0, { images: [] }),
      replica('db-1', 1, { images: [image('counter', 'db-1', { pushed: false })] }),
      replica('db-2', 2, { images: [image('counter', 'db-2', { digest: undefined })] }),
      replica('db-3', 3, { checkpointedPod: pod(['counter', 'side']) }),
      replica('db-4', 4, {
        checkpointedPod: pod(['counter']),
        images: [image('counter', 'db-4'), image('old', 'db-4')],
      }),
    ];
    delete rs[2]!.images![0]!.digest;
    const r = record({
      backup: backup([cluster('member1', rs)]),
      binding: moved([{ name: 'member2', replicas: 5 }]),
    });
    assert.deepEqual(
      outcome(r).map((o) => o[2]),
      ['NoCheckpoint', 'NoCheckpoint', 'NoCheckpoint', 'NoCheckpoint', 'restored'],
    );
    assert.match(
      r.replicas[0]!.message!,
      /db-0 has no checkpoint image recorded: it starts fresh in member2/,
    );
    assert.match(r.replicas[1]!.message!, /newest image of container counter is not pushed by digest/);
    assert.match(r.replicas[3]!.message!, /container side is not pushed/);
    // Only the containers the pod had are restored: a leftover image of a removed container is not.
    assert.deepEqual(
      r.replicas[4]!.images!.map((i) => i.containerName),
      ['counter'],
    );
  });

  it('TargetCannotRestore: no node of the target restores, or none holds a key for an encrypted image; TargetNodesUnknown', () => {
    const b = backup([cluster('member1', [replica('db-0', 0)])]);
    const only = (n: NodeView[]) => new Map([['member2', n]]);
    const cannot = record({
      backup: b,
      binding: moved([{ name: 'member2', replicas: 1 }]),
      nodes: only([restoring('m2-b', { setting: 'checkpoint_only' })]),
    });
    assert.deepEqual(outcome(cannot), [['db-0', 'member2', 'TargetCannotRestore']]);
    assert.match(
      cannot.replicas[0]!.message!,
      /^db-0 starts fresh: no Ready, schedulable node of cluster member2 allows restores/,
    );
    const encrypted = backup([
      cluster('member1', [
        replica('db-0', 0, { images: [image('counter', 'db-0', { encryptedFor: ['sha256:k1'] })] }),
      ]),
    ]);
    const noKey = record({
      backup: encrypted,
      binding: moved([{ name: 'member2', replicas: 1 }]),
      nodes: only([restoring('m2-a', { keys: ['sha256:k2'] })]),
    });
    assert.deepEqual(outcome(noKey), [['db-0', 'member2', 'TargetCannotRestore']]);
    assert.match(noKey.replicas[0]!.message!, /holds a private key/);
    const withKey = record({
      backup: encrypted,
      binding: moved([{ name: 'member2', replicas: 1 }]),
      nodes: only([restoring('m2-a', { keys: ['sha256:k1'] })]),
    });
    assert.deepEqual(outcome(withKey), [['db-0', 'member2', 'restored']]);
    const unknown = record({
      backup: b,
      binding: moved([{ name: 'member2', replicas: 1 }]),
      nodes: new Map(),
    });
    assert.deepEqual(outcome(unknown), [['db-0', 'member2', 'TargetNodesUnknown']]);
  });

  it('SameCluster: never back into the cluster the checkpoint came from, even when Karmada lists it again', () => {
    const r = record({
      backup: backup([cluster('member1', sts3)]),
      binding: moved([
        { name: 'member2', replicas: 2 },
        { name: 'member1', replicas: 3 },
      ]),
    });
    assert.deepEqual(outcome(r), [
      ['db-0', 'member2', 'restored'],
      ['db-1', 'member2', 'restored'],
      ['db-2', 'member1', 'SameCluster'],
    ]);
    assert.match(r.replicas[2]!.message!, /created again in member1, the cluster its checkpoint came from/);
    assert.deepEqual([r.toClusters, r.startedFresh], [['member2'], 1]);
    const back = record({
      backup: backup([cluster('member1', sts3)]),
      binding: moved([{ name: 'member1', replicas: 3 }]),
    });
    assert.deepEqual(
      outcome(back).map((o) => o[2]),
      ['SameCluster', 'SameCluster', 'SameCluster'],
    );
    assert.equal(
      back.message,
      'moved from member1 to no cluster: 0 of 3 replicas restored; 3 started fresh (db-0: SameCluster, db-1: SameCluster, db-2: SameCluster)',
    );
  });

  it('NotRecreated: fewer replicas where it lands, an ordinal the target already runs, or a pod without ordinal; not counted as fresh', () => {
    const scaled = record({
      backup: backup([cluster('member1', sts3)]),
      binding: moved([{ name: 'member2', replicas: 2 }]),
    });
    assert.deepEqual(outcome(scaled)[2], ['db-2', '-', 'NotRecreated']);
    assert.deepEqual([scaled.restored, scaled.startedFresh], [2, 0]);
    assert.match(scaled.message, /; 1 not recreated \(db-2\)$/);
    // Divided: member2 already ran its own db-0; going to 2 replicas it creates ordinal 1 only.
    const divided = record({
      backup: backup([
        cluster('member1', [replica('db-0', 0), replica('db-1', 1)]),
        cluster('member2', [replica('db-0', 0)], 'Completed'),
      ]),
      binding: moved([{ name: 'member2', replicas: 2 }]),
    });
    assert.deepEqual(outcome(divided), [
      ['db-0', '-', 'NotRecreated'],
      ['db-1', 'member2', 'restored'],
    ]);
    const noOrdinal = record({
      backup: backup([cluster('member1', [replica('db-0')])]),
      binding: moved([{ name: 'member2', replicas: 1 }]),
    });
    assert.deepEqual(outcome(noOrdinal), [['db-0', '-', 'NotRecreated']]);
  });

  it("only the replicas present at the lost cluster's last report; an absent replicas count is 0 (omitempty)", () => {
    const r = record({
      backup: backup([cluster('member1', [replica('db-0', 0), replica('db-1', 1, { present: false })])]),
      binding: moved([{ name: 'member2', replicas: 2 }]),
    });
    assert.deepEqual(outcome(r), [['db-0', 'member2', 'restored']]);
    const zero = record({
      backup: backup([cluster('member1', [replica('db-0', 0)])]),
      binding: moved([{ name: 'member2' }]),
    });
    assert.deepEqual(outcome(zero), [['db-0', '-', 'NotRecreated']]);
  });

  it('a Deployment: replicas fill the pods each target creates beyond what it runs, one replica each, in binding order', () => {
    const web = (rs: ClusterStatus[]) =>
      backup(rs, { resourceRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' } });
    const a = [replica('web-7d-a'), replica('web-7d-b'), replica('web-7d-c')];
    const r = record({
      backup: web([cluster('member1', a), cluster('member2', [replica('web-9x-z')], 'Completed')]),
      binding: moved([
        { name: 'member2', replicas: 2 },
        { name: 'member3', replicas: 1 },
      ]),
    });
    assert.deepEqual(outcome(r), [
      ['web-7d-a', 'member2', 'restored'],
      ['web-7d-b', 'member3', 'restored'],
      ['web-7d-c', '-', 'NotRecreated'],
    ]);
    assert.deepEqual(r.toClusters, ['member2', 'member3']);
    // Each replica's state goes to one pod at most, wherever it lands.
    assert.equal(new Set(r.replicas.map((x) => x.pod)).size, r.replicas.length);
    const same = record({
      backup: web([cluster('member1', a)]),
      binding: moved([
        { name: 'member2', replicas: 1 },
        { name: 'member1', replicas: 3 },
      ]),
    });
    assert.deepEqual(
      outcome(same).map((o) => o[2]),
      ['restored', 'SameCluster', 'SameCluster'],
    );
  });

  it("two lost clusters at once: each one's replicas, the earliest eviction as the time, no ordinal restored twice", () => {
    const r = record({
      backup: backup([
        cluster('member1', [replica('db-0', 0)]),
        cluster('member3', [replica('db-0', 0, { backup: 'other' })]),
      ]),
      binding: {
        clusters: [{ name: 'member2', replicas: 1 }],
        gracefulEvictionTasks: [
          task('member1', { creationTimestamp: ago(20) }),
          task('member3', { creationTimestamp: ago(50) }),
        ],
      },
    });
    assert.deepEqual(outcome(r), [
      ['db-0', 'member2', 'restored'],
      ['db-0', '-', 'NotRecreated'],
    ]);
    assert.deepEqual([r.fromClusters, r.time], [['member1', 'member3'], ago(50)]);
  });

  it('without a creationTimestamp on the task, the time is when the hub decided', () => {
    const r = record({
      backup: backup([cluster('member1', [replica('db-0', 0)])]),
      binding: {
        clusters: [{ name: 'member2', replicas: 1 }],
        gracefulEvictionTasks: [task('member1', { creationTimestamp: undefined })],
      },
    });
    assert.equal(r.time, NOW.toISOString());
    assert.equal(r.evictionReason, 'TaintUntolerated');
  });

  it("NotAClusterFailure: an eviction other than the taint manager's for an untolerated taint, or from a cluster still Ready, restores nothing", () => {
    const b = backup([cluster('member1', sts3)]);
    const to = [{ name: 'member2', replicas: 3 }];
    for (const [t, ready] of [
      // Application failover: member1 runs its pods until Karmada purges them.
      [task('member1', { reason: 'ApplicationFailure', producer: 'ResourceBindingController' }), READY],
      [
        task('member1', { reason: 'ApplicationFailure', producer: 'ResourceBindingController' }),
        new Set<string>(),
      ],
      // A NoExecute taint on a cluster that still answers (maintenance, a flap already over).
      [task('member1'), new Set(['member1', 'member2'])],
      // An eviction some other producer wrote with the taint manager's reason.
      [task('member1', { producer: 'SomeoneElse' }), READY],
    ] as const) {
      const d = decideFailover({
        backup: b,
        binding: { clusters: to, gracefulEvictionTasks: [t] },
        nodes,
        readyClusters: ready,
        now: NOW,
      });
      assert.equal(d.kind, 'notFailover', JSON.stringify(t));
      const r = (d as { record: FailoverRecord }).record;
      assert.deepEqual(
        [r.reason, r.fromClusters, r.notLostClusters, r.replicas, r.restored, r.startedFresh],
        ['NotAClusterFailure', [], ['member1'], [], 0, 0],
      );
      assert.match(r.message, /not treated as a failover/);
      // One decision for that eviction: the record answers it.
      assert.equal(same(r, { clusters: to, gracefulEvictionTasks: [t] }), true);
    }
  });

  it("a lost cluster and a Ready one evicted at once: only the lost one's replicas are restored", () => {
    const r = record({
      backup: backup([
        cluster('member1', [replica('db-0', 0)]),
        cluster('member3', [replica('db-1', 1, { backup: 'other' })]),
      ]),
      binding: {
        clusters: [{ name: 'member2', replicas: 2 }],
        gracefulEvictionTasks: [task('member1'), task('member3')],
      },
      readyClusters: new Set(['member2', 'member3']),
    });
    assert.deepEqual(outcome(r), [['db-0', 'member2', 'restored']]);
    assert.deepEqual([r.fromClusters, r.notLostClusters, r.reason], [['member1'], ['member3'], undefined]);
    assert.equal(same(r, { clusters: [], gracefulEvictionTasks: [task('member1'), task('member3')] }), true);
  });
});

describe('sameMove: one decision per move', () => {
  const r = (from: string[], time: string) =>
    ({ fromClusters: from, time, decidedAt: ago(20) }) as FailoverRecord;
  it('the same evicted clusters and eviction time answer the move; another cluster or a new task is a new move', () => {
    const b = moved([{ name: 'member2', replicas: 1 }]);
    assert.equal(same(r(['member1'], ago(20)), b), true);
    assert.equal(same(r(['member1'], ago(99)), b), false);
    assert.equal(same(r(['member3'], ago(20)), b), false);
    assert.equal(same(undefined, b), false);
    assert.equal(
      same(r(['member1'], 'whenever'), {
        gracefulEvictionTasks: [task('member1', { creationTimestamp: undefined })],
      }),
      true,
    );
    assert.equal(same(r(['member1'], ago(20)), { clusters: [] }), false);
  });
  it('without an eviction time, a record decided longer ago than maxAgeSeconds never answers a new eviction', () => {
    const untimed = { gracefulEvictionTasks: [task('member1', { creationTimestamp: undefined })] };
    const at = (decidedAt: string) =>
      ({ fromClusters: ['member1'], time: decidedAt, decidedAt }) as FailoverRecord;
    assert.equal(sameMove(at(ago(300)), untimed, NOW, 300), true);
    assert.equal(sameMove(at(ago(301)), untimed, NOW, 300), false);
    assert.equal(sameMove(at(ago(30 * 24 * 3600)), untimed, NOW, 300), false);
  });
});
