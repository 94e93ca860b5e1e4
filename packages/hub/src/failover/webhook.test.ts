import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  hubWebhookOwner,
  type CheckpointBackup,
  type FailoverRecord,
  type ReplicaStatus,
} from '@stateful-migration/api';
import { webhookConfigName, type AdmissionRequest, type AdmittedPod } from '@stateful-migration/restore';
import { decideFailover } from './decide.js';
import {
  answerFailoverPod,
  coveringBackup,
  evictedFrom,
  rescheduled,
  moveChanged,
  FAILOVER_ROUTE,
  failoverWebhookConfiguration,
  keepsStateOnFailover,
} from './webhook.js';

const NOW = new Date('2026-12-01T12:00:00Z');
const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString();

const replica = (pod: string, ordinal?: number): ReplicaStatus => ({
  pod,
  backup: `db-${pod}`,
  ...(ordinal !== undefined ? { ordinal } : {}),
  phase: 'Completed',
  present: true,
  lastCheckpointTime: ago(40),
  images: [
    {
      containerName: 'counter',
      imageName: `reg/shop/cp/checkpoint-${pod}:r1`,
      digest: `sha256:${'a'.repeat(63)}${pod.length}`,
      buildTime: ago(30),
      pushed: true,
    },
  ],
});

const backup = (over: Partial<CheckpointBackup['spec']> = {}, ns = 'shop'): CheckpointBackup => ({
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointBackup',
  metadata: { name: 'db', namespace: ns, uid: 'u1' },
  spec: {
    schedule: '* * * * *',
    resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
    registry: { url: 'reg', repository: 'shop/cp', secretRef: { name: 's' } },
    keepState: { clusterFailover: { maxAgeSeconds: 300 } },
    ...over,
  },
});

const restoring = [{ name: 'm2-a', ready: true, cordoned: false, setting: 'checkpoint_restore' }];

/** The record of db (ordinals 0 and 1 in member1) moved to member2, which creates ordinals 0 and 1. */
function record(b: CheckpointBackup, replicas: ReplicaStatus[], to = 2): FailoverRecord {
  const d = decideFailover({
    backup: { ...b, status: { clusters: [{ name: 'member1', phase: 'Unknown', applied: true, replicas }] } },
    binding: {
      clusters: [{ name: 'member2', replicas: to }],
      gracefulEvictionTasks: [
        {
          fromCluster: 'member1',
          reason: 'TaintUntolerated',
          producer: 'TaintManager',
          creationTimestamp: ago(20),
        },
      ],
    },
    nodes: new Map([['member2', restoring]]),
    readyClusters: new Set(['member2']),
    now: NOW,
  });
  assert.equal(d.kind, 'failover');
  return (d as { record: FailoverRecord }).record;
}

const stsPod = (name: string, annotations?: Record<string, string>): AdmittedPod => ({
  metadata: {
    name,
    namespace: 'shop',
    labels: { app: 'db' },
    ...(annotations ? { annotations } : {}),
    ownerReferences: [{ kind: 'StatefulSet', name: 'db', controller: true }],
  },
  spec: { containers: [{ name: 'counter', image: 'registry.local/counter:1' }] },
});
const create = (object: AdmittedPod, over: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  uid: 'req-1',
  operation: 'CREATE',
  namespace: 'shop',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  object,
  ...over,
});
const ops = (patch?: string) =>
  patch
    ? (JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as { path: string; value: unknown }[])
    : [];

describe('failover webhook: which backups opt in and which pods they cover', () => {
  it('only a workload-level Deployment or StatefulSet backup with keepState.clusterFailover, not being deleted', () => {
    assert.equal(keepsStateOnFailover(backup()), true);
    assert.equal(keepsStateOnFailover(backup({ keepState: { clusterFailover: {} } })), true);
    for (const spec of [
      { keepState: undefined },
      { keepState: { eviction: { timeoutSeconds: 60 } } },
      { podRef: { name: 'db-0' } },
      { resourceRef: { apiVersion: 'v1', kind: 'Pod', name: 'db-0' } },
    ])
      assert.equal(keepsStateOnFailover(backup(spec)), false, JSON.stringify(spec));
    const deleting = backup();
    deleting.metadata.deletionTimestamp = NOW.toISOString();
    assert.equal(keepsStateOnFailover(deleting), false);
  });

  it("a pod CREATE whose controller is the backup's workload, in its namespace; nothing else", () => {
    const b = backup();
    const web = backup({ resourceRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' } });
    web.metadata.name = 'web';
    const both = [web, b];
    assert.equal(coveringBackup(both, create(stsPod('db-0'))), b);
    const rsPod: AdmittedPod = {
      metadata: {
        generateName: 'web-7d9f-',
        labels: { 'pod-template-hash': '7d9f' },
        ownerReferences: [{ kind: 'ReplicaSet', name: 'web-7d9f', controller: true }],
      },
      spec: { containers: [{ name: 'counter', image: 'i' }] },
    };
    assert.equal(coveringBackup(both, create(rsPod)), web);
    assert.equal(coveringBackup(both, create(stsPod('db-0'), { namespace: 'other' })), undefined);
    assert.equal(coveringBackup(both, create(stsPod('db-0'), { operation: 'UPDATE' })), undefined);
    assert.equal(
      coveringBackup(both, create(stsPod('db-0'), { kind: { group: 'x', version: 'v1', kind: 'Pod' } })),
      undefined,
    );
    const other = stsPod('cache-0');
    other.metadata.ownerReferences = [{ kind: 'StatefulSet', name: 'cache', controller: true }];
    assert.equal(coveringBackup(both, create(other)), undefined);
    const notController = stsPod('db-0');
    notController.metadata.ownerReferences = [{ kind: 'StatefulSet', name: 'db' }];
    assert.equal(coveringBackup(both, create(notController)), undefined);
    assert.equal(coveringBackup([backup({ keepState: undefined })], create(stsPod('db-0'))), undefined);
  });

  it('the standing configuration: its own name and route, the cluster in the URL, failurePolicy Ignore, scoped to the workload', () => {
    const c = failoverWebhookConfiguration({
      backup: backup(),
      cluster: 'member 2',
      endpoint: { url: 'https://hub:8443', caBundle: 'PEM' },
      owner: hubWebhookOwner('policy-uid'),
    });
    assert.deepEqual(c.metadata.ownerReferences, [hubWebhookOwner('policy-uid')], 'gone with the chart');
    assert.equal(c.metadata.name, 'stateful-migration-failover.shop.db');
    assert.equal(c.metadata.labels['migration.dcnlab.com/failover'], 'true');
    const [w] = c.webhooks as {
      name: string;
      clientConfig: { url: string; caBundle: string };
      failurePolicy: string;
      namespaceSelector: unknown;
      matchConditions: { expression: string }[];
      rules: { operations: string[]; resources: string[] }[];
    }[];
    assert.equal(c.webhooks.length, 1);
    assert.equal(w!.name, 'db.shop.failover.migration.dcnlab.com');
    assert.equal(w!.clientConfig.url, `https://hub:8443${FAILOVER_ROUTE}member%202`);
    assert.equal(Buffer.from(w!.clientConfig.caBundle, 'base64').toString(), 'PEM');
    assert.equal(w!.failurePolicy, 'Ignore');
    assert.deepEqual(w!.namespaceSelector, { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } });
    assert.match(w!.matchConditions[0]!.expression, /o\.kind == 'StatefulSet' && o\.name == 'db'/);
    assert.deepEqual([w!.rules[0]!.operations, w!.rules[0]!.resources], [['CREATE'], ['pods']]);
  });

  it("the standing configuration's name is never a workload migration's, whatever the namespaces and names", () => {
    // A migration's is stateful-migration.<namespace>.<restore>: a tenant of a namespace named "failover" whose
    // CheckpointRestore is named "shop.db" would replace (PUT) shop's standing configuration while migrating and
    // delete it when its migration ends, and the failover controller would replace that tenant's in turn.
    const endpoint = { url: 'https://hub:8443', caBundle: 'PEM' };
    const c = failoverWebhookConfiguration({
      backup: backup(),
      cluster: 'member2',
      endpoint,
      owner: hubWebhookOwner('u'),
    });
    assert.notEqual(c.metadata.name, webhookConfigName('failover', 'shop.db'));
    assert.ok(!c.metadata.name.startsWith('stateful-migration.'), c.metadata.name);
  });

  it('a backup that names another namespace, or a path for a name, is not opted in (its secret is never read)', () => {
    // The admission policy refuses these; an object stored before it, or in a control plane without it, must not
    // make the hub copy another namespace's registry secret into a pull secret of this one.
    const theirs = backup({
      registry: { url: 'reg', repository: 'shop/cp', secretRef: { name: 's', namespace: 'bank' } },
    });
    assert.equal(keepsStateOnFailover(theirs), false);
    assert.equal(coveringBackup([theirs], create(stsPod('db-0'))), undefined);
    const path = backup({
      registry: { url: 'reg', repository: 'shop/cp', secretRef: { name: '../../bank/secrets/s' } },
    });
    assert.equal(keepsStateOnFailover(path), false);
    const own = backup({
      registry: { url: 'reg', repository: 'shop/cp', secretRef: { name: 's', namespace: 'shop' } },
    });
    assert.equal(keepsStateOnFailover(own), true);
  });
});

describe('failover: when a move can be decided, and which clusters are being evicted', () => {
  it('only once the scheduler has placed the binding as it is now (not the empty placement after the taint manager)', () => {
    const rb = (generation?: number, observed?: number) => ({
      metadata: generation === undefined ? {} : { generation },
      ...(observed === undefined ? {} : { status: { schedulerObservedGeneration: observed } }),
    });
    assert.equal(rescheduled(rb(7, 7)), true);
    assert.equal(rescheduled(rb(8, 7)), false, 'the taint manager wrote generation 8: not placed yet');
    assert.equal(rescheduled(rb(7)), false);
    assert.equal(rescheduled(rb()), true);
  });

  it('the evicted clusters, each once', () => {
    const task = (fromCluster: string) => ({ fromCluster, reason: 'TaintUntolerated' });
    assert.deepEqual(evictedFrom(undefined), []);
    assert.deepEqual(evictedFrom({ spec: {} }), []);
    assert.deepEqual(
      evictedFrom({ spec: { gracefulEvictionTasks: [task('member1'), task('member3'), task('member1')] } }),
      ['member1', 'member3'],
    );
  });
});

describe('failover webhook: the answer to a pod created in the cluster Karmada picked', () => {
  const b = backup();
  const r = record(b, [replica('db-0', 0), replica('db-1', 1)]);

  it("ordinal N gets ordinal N's image by digest, the pull secret, restore-capable nodes, and no scheduling gate", () => {
    const a = answerFailoverPod(create(stsPod('db-1')), b, r, 'member2', new Set());
    assert.equal(a.assigned, 'db-1');
    const patch = ops(a.response.patch);
    const byPath = new Map(patch.map((o) => [o.path, o.value]));
    assert.equal(
      byPath.get('/spec/containers/0/image'),
      `reg/shop/cp/checkpoint-db-1@${r.replicas[1]!.images![0]!.digest}`,
    );
    assert.deepEqual(byPath.get('/spec/imagePullSecrets'), [{ name: 'db-failover-pull' }]);
    assert.equal(byPath.has('/spec/schedulingGates'), false, 'the source is lost: nothing to wait for');
    assert.deepEqual(
      (byPath.get('/metadata/annotations') as Record<string, string>)['migration.dcnlab.com/restored-from'],
      'db-1',
    );
    assert.match(JSON.stringify(byPath.get('/spec/affinity')), /checkpoint-restore/);
  });

  it('unchanged, with the reason, where the record restores nothing: the lost cluster, a fresh replica, an unknown ordinal', () => {
    const back = answerFailoverPod(create(stsPod('db-0')), b, r, 'member1', new Set());
    assert.equal(back.response.patch, undefined);
    assert.equal(back.assigned, undefined);
    assert.match(
      back.response.warnings![0]!,
      /^CheckpointBackup db: failover from member1: this pod starts from its image: no checkpoint of ordinal 0/,
    );
    const old = replica('db-1', 1);
    old.lastCheckpointTime = ago(400);
    const tooOld = record(b, [replica('db-0', 0), old]);
    const fresh = answerFailoverPod(create(stsPod('db-1')), b, tooOld, 'member2', new Set());
    assert.equal(fresh.response.patch, undefined);
    assert.match(
      fresh.response.warnings![0]!,
      /is 400 s old, over keepState\.clusterFailover\.maxAgeSeconds 300/,
    );
    const extra = answerFailoverPod(create(stsPod('db-2')), b, r, 'member2', new Set());
    assert.equal(extra.response.patch, undefined);
    assert.match(extra.response.warnings![0]!, /no checkpoint of ordinal 2/);
  });

  it("a Deployment's pods: each a checkpoint no pod there runs yet, then unchanged", () => {
    const web = backup({ resourceRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' } });
    web.metadata.name = 'web';
    const wr = record(web, [replica('web-7d-a'), replica('web-7d-b')]);
    const pod: AdmittedPod = {
      metadata: {
        generateName: 'web-7d9f-',
        labels: { 'pod-template-hash': '7d9f' },
        ownerReferences: [{ kind: 'ReplicaSet', name: 'web-7d9f', controller: true }],
      },
      spec: { containers: [{ name: 'counter', image: 'i' }] },
    };
    const first = answerFailoverPod(create(pod), web, wr, 'member2', new Set());
    const second = answerFailoverPod(create(pod), web, wr, 'member2', new Set([first.assigned!]));
    const third = answerFailoverPod(create(pod), web, wr, 'member2', new Set(['web-7d-a', 'web-7d-b']));
    assert.deepEqual([first.assigned, second.assigned, third.assigned], ['web-7d-a', 'web-7d-b', undefined]);
    assert.match(
      third.response.warnings![0]!,
      /every checkpoint of Deployment web already runs in a pod here/,
    );
  });
});

describe('moveChanged: which binding events the failover controller reacts to', () => {
  const rb = (over: {
    generation?: number;
    observed?: number;
    tasks?: string[];
    clusters?: string[];
    agg?: string;
  }) => ({
    metadata: { generation: over.generation ?? 2 },
    spec: {
      clusters: (over.clusters ?? ['member2']).map((name) => ({ name, replicas: 1 })),
      gracefulEvictionTasks: (over.tasks ?? []).map((fromCluster) => ({
        fromCluster,
        reason: 'TaintUntolerated',
      })),
    },
    status: {
      schedulerObservedGeneration: over.observed ?? 2,
      aggregatedStatus: [{ clusterName: over.agg ?? 'a' }],
    },
  });
  it('a status-only update (aggregated status of the members) is not a move; a new binding or a deleted one is', () => {
    assert.equal(moveChanged(rb({ agg: 'b' }), rb({ agg: 'a' })), false);
    assert.equal(moveChanged(rb({}), undefined), true);
  });
  it('a new generation, eviction task, placement, or the scheduler catching up with the generation is', () => {
    assert.equal(moveChanged(rb({ generation: 3, observed: 2 }), rb({})), true);
    assert.equal(moveChanged(rb({ tasks: ['member1'] }), rb({})), true);
    assert.equal(moveChanged(rb({ clusters: ['member3'] }), rb({})), true);
    // The scheduler writes schedulerObservedGeneration in status after placing: the move is decided then.
    assert.equal(moveChanged(rb({ generation: 3, observed: 3 }), rb({ generation: 3, observed: 2 })), true);
  });
});
