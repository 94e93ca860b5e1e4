import assert from 'node:assert/strict';
import { setImmediate } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { rootLogger } from '@stateful-migration/kube';
import { MemoryApi } from '@stateful-migration/kube/testing';
import { sharedPolicyName } from './backups/sharing.js';
import { hubControllers } from './main.js';
import { HubMetrics } from './metrics.js';

// The hub's two controllers (backups, secrets) against an apiserver in memory, with real informers over it: which objects each reconcile
// writes, in which order, and what it records. The pure decisions have their own tables; this is the I/O around them.

const BACKUPS = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups';
const BACKUP = `${BACKUPS}/web`;
const CLUSTERS = '/apis/cluster.karmada.io/v1alpha1/clusters';
const BINDINGS = '/apis/work.karmada.io/v1alpha2/namespaces/shop/resourcebindings';
const WORKS = (cluster: string) => `/apis/work.karmada.io/v1alpha1/namespaces/karmada-es-${cluster}/works`;
const POLICIES = '/apis/policy.karmada.io/v1alpha1/namespaces/shop/propagationpolicies';
const RBAC = '/apis/rbac.authorization.k8s.io/v1/namespaces/shop';
const READER = 'checkpoint-backup-registry-secret-creds';
const ready = { conditions: [{ type: 'Ready', status: 'True' }] };
const TO_MEMBER1 = sharedPolicyName(['member1']);
const LABEL = 'hub.migration.dcnlab.com/policy';

const backup = (spec: Partial<CheckpointBackup['spec']> = {}): CheckpointBackup => ({
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointBackup',
  metadata: { name: 'web', namespace: 'shop', generation: 1 },
  spec: {
    schedule: 'immediately',
    podRef: { name: 'web-0' },
    resourceRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
    registry: { url: 'reg.example:5000', repository: 'cp', secretRef: { name: 'creds' } },
    ...spec,
  },
});

const workloadBinding = (clusters: string[]) => ({
  metadata: { name: 'web-deployment', namespace: 'shop' },
  spec: {
    resource: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: 'shop' },
    clusters: clusters.map((name) => ({ name })),
  },
});

/** The binding of backup web, placed by the hub's shared policy in member1, with member1's report of it. */
const reported = (status: Record<string, unknown>) => ({
  metadata: {
    name: 'web-checkpointbackup',
    namespace: 'shop',
    annotations: { 'propagationpolicy.karmada.io/name': TO_MEMBER1 },
  },
  spec: {
    resource: {
      apiVersion: 'migration.dcnlab.com/v1',
      kind: 'CheckpointBackup',
      name: 'web',
      namespace: 'shop',
    },
    clusters: [{ name: 'member1' }],
  },
  status: { aggregatedStatus: [{ clusterName: 'member1', applied: true, status }] },
});

const stops: (() => void)[] = [];
after(() => stops.forEach((s) => s()));

async function hub(b: CheckpointBackup = backup()) {
  const api = new MemoryApi();
  for (const c of ['member1', 'member2'])
    api.put(`${CLUSTERS}/${c}`, { metadata: { name: c }, status: ready });
  api.put(`${BINDINGS}/web-deployment`, workloadBinding(['member1', 'member2']));
  api.put(`${CLUSTERS}/member1/proxy/api/v1/namespaces/shop/pods/web-0`, { metadata: { name: 'web-0' } });
  api.put(BACKUP, b);
  const metrics = new HubMetrics();
  const hub = hubControllers({
    client: api.client(),
    log: rootLogger('test', 'silent'),
    metrics,
    identity: 'test',
  });
  stops.push(() => hub.caches.stop());
  await hub.caches.start();
  /** Lets the informers see what the last step wrote, then runs one reconcile. */
  const run = async (reconcile: () => Promise<unknown>) => {
    await setImmediate();
    api.resetCalls();
    const r = await reconcile();
    await setImmediate();
    return r;
  };
  return {
    api,
    hub,
    metrics,
    run,
    backup: (name = 'web') => run(() => hub.backups.reconcile(`shop/${name}`)),
    policy: (name: string) => run(() => hub.backups.reconcile(`policy:shop/${name}`)),
    secret: () => run(() => hub.secrets.reconcile('shop/creds')),
    status: () => api.object<CheckpointBackup>(BACKUP)?.status,
  };
}

describe('the hub: CheckpointBackups and their registry secrets', () => {
  it('places by the pod, records it, carries the secret (Role, RoleBinding, policy), then joins the shared policy', async () => {
    const h = await hub();
    assert.equal(await h.backup(), undefined);
    assert.deepEqual(h.api.writes(), [
      `PUT ${BACKUP}/status`,
      `POST ${RBAC}/roles`,
      `POST ${RBAC}/rolebindings`,
      `POST ${POLICIES}`,
      `POST ${POLICIES}`,
      `PATCH ${BACKUP}`,
    ]);
    // One write joins it: the label its policy selects, and the finalizer.
    const meta = h.api.object<CheckpointBackup>(BACKUP)!.metadata;
    assert.equal(meta.labels?.[LABEL], TO_MEMBER1);
    assert.deepEqual(meta.finalizers, ['hub.migration.dcnlab.com/cleanup']);
    assert.deepEqual(h.status()?.placement, { clusters: ['member1'], by: 'pod' });
    assert.equal(h.status()?.phase, 'Pending');
    const policy = (name: string) =>
      h.api.object<{ spec: { placement: { clusterAffinity: { clusterNames: string[] } } } }>(
        `${POLICIES}/${name}`,
      )?.spec.placement.clusterAffinity.clusterNames;
    assert.deepEqual(policy(TO_MEMBER1), ['member1']);
    assert.deepEqual(policy('registry-secret-creds'), ['member1']);
    assert.ok(h.api.object(`${RBAC}/roles/${READER}`));
    assert.deepEqual(h.api.events(), [`Normal Placed: PropagationPolicy ${TO_MEMBER1} sends it to member1`]);

    // Nothing changed: no writes from either reconciler.
    assert.equal(await h.backup(), undefined);
    assert.deepEqual(h.api.writes(), []);
    assert.equal(await h.secret(), undefined);
    assert.deepEqual(h.api.writes(), []);

    // The member reports: the aggregate follows, with one Event for the outcome.
    h.api.put(`${BINDINGS}/web-checkpointbackup`, reported({ phase: 'Completed', run: { node: 'm1-a' } }));
    assert.equal(await h.backup(), undefined);
    assert.deepEqual(h.api.writes(), [`PUT ${BACKUP}/status`]);
    assert.equal(h.status()?.phase, 'Completed');
    assert.equal(h.api.events().at(-1), 'Normal AggregateCompleted: Completed in member1');

    // Deleted: its shared policy goes, as it was the last object in it, then its finalizer; the secret follows
    // once nothing needs it.
    await h.api.request('DELETE', BACKUP);
    assert.equal(await h.backup(), undefined);
    assert.deepEqual(h.api.writes(), [`DELETE ${POLICIES}/${TO_MEMBER1}`, `PATCH ${BACKUP}`]);
    assert.equal(h.api.object(BACKUP), undefined);
    assert.equal(await h.secret(), undefined);
    assert.deepEqual(h.api.writes(), [
      `DELETE ${POLICIES}/registry-secret-creds`,
      `DELETE ${RBAC}/roles/${READER}`,
      `DELETE ${RBAC}/rolebindings/${READER}`,
    ]);
  });

  it('an object that becomes unplaceable keeps its record and is withdrawn, with its secret', async () => {
    const h = await hub();
    await h.backup();
    h.api.put(
      `${BINDINGS}/web-checkpointbackup`,
      reported({ phase: 'Completed', run: { node: 'm1-a' }, lastCheckpointTime: '2026-01-01T00:00:00Z' }),
    );
    await h.backup();
    await h.api.request('DELETE', `${BINDINGS}/web-deployment`);
    assert.equal(await h.backup(), undefined);
    assert.deepEqual(h.api.writes(), [
      `PUT ${BACKUP}/status`,
      `PATCH ${BACKUP}`,
      `DELETE ${BINDINGS}/web-checkpointbackup`,
    ]);
    assert.equal(h.api.object<CheckpointBackup>(BACKUP)!.metadata.labels?.[LABEL], undefined);
    // Its policy had no other object: it goes too, on its own key.
    assert.equal(await h.policy(TO_MEMBER1), undefined);
    assert.deepEqual(h.api.writes(), [`DELETE ${POLICIES}/${TO_MEMBER1}`]);
    assert.equal(h.status()?.phase, 'Failed');
    assert.equal(h.status()?.clusters?.[0]?.lastCheckpointTime, '2026-01-01T00:00:00Z');
    assert.match(h.api.events().at(-1)!, /^Warning Unplaceable: cannot tell which cluster runs the pod/);
    assert.equal(await h.secret(), undefined);
    assert.deepEqual(h.api.writes(), [
      `DELETE ${POLICIES}/registry-secret-creds`,
      `DELETE ${RBAC}/roles/${READER}`,
      `DELETE ${RBAC}/rolebindings/${READER}`,
    ]);
  });

  it('an object naming another namespace is refused: placed nowhere, no secret, one Warning', async () => {
    const h = await hub(backup({ podRef: { name: 'web-0', namespace: 'other' } }));
    assert.equal(await h.backup(), undefined);
    assert.deepEqual(h.api.writes(), [`PATCH ${BACKUP}`, `PUT ${BACKUP}/status`]);
    assert.equal(h.status()?.phase, 'Failed');
    assert.equal(h.api.events().length, 1);
    assert.match(h.api.events()[0]!, /^Warning /);
    assert.equal(await h.backup(), undefined);
    assert.deepEqual(h.api.writes(), []);
    assert.equal(await h.secret(), undefined);
    assert.deepEqual(h.api.writes(), []);
  });
});

describe('the hub: the public keys object of spec.encryption (issue 14)', () => {
  it('travels like the registry secret: to where the backup is placed, with its reader; withdrawn with the backup', async () => {
    const h = await hub(backup({ encryption: { publicKeysRef: { kind: 'ConfigMap', name: 'team-keys' } } }));
    const keysReader = 'checkpoint-backup-public-keys-configmap-team-keys';
    assert.equal(await h.backup(), undefined);
    const clusters = (name: string) =>
      h.api.object<{ spec: { placement: { clusterAffinity: { clusterNames: string[] } } } }>(
        `${POLICIES}/${name}`,
      )?.spec.placement.clusterAffinity.clusterNames;
    assert.deepEqual(clusters('public-keys-configmap-team-keys'), ['member1']);
    assert.deepEqual(clusters('registry-secret-creds'), ['member1']);
    assert.deepEqual(h.api.object<{ rules: unknown[] }>(`${RBAC}/roles/${keysReader}`)?.rules, [
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: ['team-keys'] },
    ]);
    assert.ok(h.api.object(`${RBAC}/rolebindings/${keysReader}`));

    await h.api.client().request('DELETE', BACKUP);
    assert.equal(await h.backup(), undefined); // the hub's finalizer: its clean-up
    assert.equal(h.api.object(BACKUP), undefined);
    await h.hub.secrets.reconcile('keys:ConfigMap:shop/team-keys');
    assert.equal(h.api.object(`${POLICIES}/public-keys-configmap-team-keys`), undefined);
    assert.equal(h.api.object(`${RBAC}/roles/${keysReader}`), undefined);
    assert.equal(h.api.object(`${RBAC}/rolebindings/${keysReader}`), undefined);
  });
});

describe('the hub: one PropagationPolicy per namespace and set of clusters, shared', () => {
  const to = (clusters: string[]) => ({ placement: { clusterAffinity: { clusterNames: clusters } } });
  /** Without a registry: no secret travels, so only the placement's writes show. */
  const named = (name: string, spec: Partial<CheckpointBackup['spec']>): CheckpointBackup => {
    const b = backup(spec);
    delete b.spec.registry;
    return { ...b, metadata: { name, namespace: 'shop', generation: 1 } };
  };
  /** What Karmada's detector does when it claims an object for a policy. */
  const claim = (h: Awaited<ReturnType<typeof hub>>, name: string, policy: string) => {
    const o = h.api.object<CheckpointBackup>(`${BACKUPS}/${name}`)!;
    h.api.put(`${BACKUPS}/${name}`, {
      ...o,
      metadata: {
        ...o.metadata,
        labels: { ...o.metadata.labels, 'propagationpolicy.karmada.io/permanent-id': `id-${policy}` },
        annotations: {
          'propagationpolicy.karmada.io/name': policy,
          'propagationpolicy.karmada.io/namespace': 'shop',
        },
      },
    });
  };
  /** The writes of a reconcile that moves an object: placement and aggregate, the policy if one is written, membership. */
  const moves = (name: string, ...policy: string[]) => [
    `PUT ${BACKUPS}/${name}/status`,
    ...policy,
    `PATCH ${BACKUPS}/${name}`,
  ];
  const meta = (h: Awaited<ReturnType<typeof hub>>, name: string) =>
    h.api.object<CheckpointBackup>(`${BACKUPS}/${name}`)!.metadata;

  it('objects to the same clusters share one policy; moving one moves only it; the last one out takes it away', async () => {
    const h = await hub(named('web', to(['member1'])));
    h.api.put(`${BACKUPS}/db`, named('db', to(['member1'])));
    await h.backup('web');
    assert.deepEqual(h.api.writes(), moves('web', `POST ${POLICIES}`));
    // The second object only joins: no policy written.
    await h.backup('db');
    assert.deepEqual(h.api.writes(), moves('db'));
    assert.equal(meta(h, 'db').labels?.[LABEL], TO_MEMBER1);
    claim(h, 'web', TO_MEMBER1);
    claim(h, 'db', TO_MEMBER1);

    // web now wants member2: a second policy, and web's claim by the first is released with the new label.
    const TO_MEMBER2 = sharedPolicyName(['member2']);
    const web = h.api.object<CheckpointBackup>(`${BACKUPS}/web`)!;
    h.api.put(`${BACKUPS}/web`, { ...web, spec: { ...web.spec, ...to(['member2']) } });
    await h.backup('web');
    assert.deepEqual(h.api.writes(), moves('web', `POST ${POLICIES}`));
    const moved = meta(h, 'web');
    assert.equal(moved.labels?.[LABEL], TO_MEMBER2);
    assert.equal(moved.labels?.['propagationpolicy.karmada.io/permanent-id'], undefined);
    assert.equal(moved.annotations?.['propagationpolicy.karmada.io/name'], undefined);
    // db is untouched, and its policy stays: db still carries it.
    await h.backup('db');
    assert.deepEqual(h.api.writes(), []);
    assert.equal(meta(h, 'db').annotations?.['propagationpolicy.karmada.io/name'], TO_MEMBER1);
    assert.equal(await h.policy(TO_MEMBER1), undefined);
    assert.deepEqual(h.api.writes(), []);

    // db moves too: member1's policy has no object left and goes.
    const db = h.api.object<CheckpointBackup>(`${BACKUPS}/db`)!;
    h.api.put(`${BACKUPS}/db`, { ...db, spec: { ...db.spec, ...to(['member2']) } });
    await h.backup('db');
    assert.deepEqual(h.api.writes(), moves('db'));
    assert.equal(await h.policy(TO_MEMBER1), undefined);
    assert.deepEqual(h.api.writes(), [`DELETE ${POLICIES}/${TO_MEMBER1}`]);
    assert.ok(h.api.object(`${POLICIES}/${TO_MEMBER2}`));
  });

  it('a policy is not deleted while an object is on its way in (seen only by a fresh list)', async () => {
    const h = await hub(named('web', to(['member1'])));
    await h.backup('web');
    await h.api.request('DELETE', `${BACKUPS}/web`);
    // The cache says the policy is unused; the apiserver already has a new object recorded for it, not yet labelled.
    const joining = {
      ...named('new', to(['member1'])),
      status: { placement: { clusters: ['member1'], by: 'placement' } },
    };
    h.api.route = (method, path) => (method === 'GET' && path === BACKUPS ? { items: [joining] } : undefined);
    assert.equal(await h.policy(TO_MEMBER1), undefined);
    assert.deepEqual(h.api.writes(), []);
    assert.ok(h.api.object(`${POLICIES}/${TO_MEMBER1}`));
    h.api.route = undefined;
    const before = h.api.object<{ metadata: object }>(`${POLICIES}/${TO_MEMBER1}`)!;
    assert.equal(await h.policy(TO_MEMBER1), undefined);
    assert.deepEqual(h.api.writes(), [`DELETE ${POLICIES}/${TO_MEMBER1}`]);
    // Karmada's finalizer holds the policy until it has let go of its objects: deleting it again is a wasted request
    // (each event of an object that left it queues its clean-up once more).
    h.api.put(`${POLICIES}/${TO_MEMBER1}`, {
      ...before,
      metadata: {
        ...before.metadata,
        deletionTimestamp: '2026-12-02T00:00:00Z',
        finalizers: ['karmada.io/propagation-policy-controller'],
      },
    });
    assert.equal(await h.policy(TO_MEMBER1), undefined);
    assert.deepEqual(h.api.writes(), []);
  });

  it('a user’s policy wins: the object leaves the hub’s policy, which goes; the user’s claim is never touched', async () => {
    const h = await hub(named('web', to(['member1'])));
    await h.backup('web');
    claim(h, 'web', TO_MEMBER1);
    h.api.put(`${POLICIES}/users`, {
      metadata: { name: 'users', namespace: 'shop' },
      spec: {
        resourceSelectors: [{ apiVersion: 'migration.dcnlab.com/v1', kind: 'CheckpointBackup', name: 'web' }],
      },
    });
    await h.backup('web');
    assert.deepEqual(h.api.writes(), moves('web'));
    assert.equal(meta(h, 'web').labels?.[LABEL], undefined);
    assert.equal(meta(h, 'web').annotations?.['propagationpolicy.karmada.io/name'], undefined);
    assert.deepEqual(h.status()?.placement, {
      clusters: [],
      by: 'policy',
      policy: 'PropagationPolicy/shop/users',
    });
    assert.equal(await h.policy(TO_MEMBER1), undefined);
    assert.deepEqual(h.api.writes(), [`DELETE ${POLICIES}/${TO_MEMBER1}`]);
    // Karmada claims it for the user's policy: the hub leaves that alone.
    claim(h, 'web', 'users');
    await h.backup('web');
    assert.deepEqual(h.api.writes(), []);
  });

  it("an object a user's policy places from the start: its status and secret, no finalizer; deleted, it goes at once and the secret with it", async () => {
    const h = await hub();
    h.api.put(`${POLICIES}/users`, {
      metadata: { name: 'users', namespace: 'shop' },
      spec: {
        resourceSelectors: [{ apiVersion: 'migration.dcnlab.com/v1', kind: 'CheckpointBackup', name: 'web' }],
        placement: { clusterAffinity: { clusterNames: ['member1'] } },
      },
    });
    h.api.put(`${BINDINGS}/web-checkpointbackup`, {
      ...reported({}),
      metadata: {
        name: 'web-checkpointbackup',
        namespace: 'shop',
        annotations: { 'propagationpolicy.karmada.io/name': 'users' },
      },
    });
    await h.backup('web');
    // No write of the object's own metadata: it never was in a policy of the hub's, so nothing is left for a
    // finalizer to clean up (ADR 0009), and the burst of a user's objects costs one write each, not two.
    assert.deepEqual(h.api.writes(), [
      `PUT ${BACKUP}/status`,
      `POST ${RBAC}/roles`,
      `POST ${RBAC}/rolebindings`,
      `POST ${POLICIES}`,
    ]);
    assert.equal(meta(h, 'web').finalizers, undefined);
    assert.equal(meta(h, 'web').labels?.[LABEL], undefined);
    assert.deepEqual(h.status()?.placement, {
      clusters: ['member1'],
      by: 'policy',
      policy: 'PropagationPolicy/shop/users',
    });
    assert.ok(h.api.object(`${POLICIES}/registry-secret-creds`), 'its secret carried to member1');
    await h.api.request('DELETE', BACKUP);
    assert.equal(h.api.object(BACKUP), undefined, 'gone at once: no finalizer of the hub holds it');
    assert.equal(await h.secret(), undefined);
    assert.equal(h.api.object(`${POLICIES}/registry-secret-creds`), undefined, 'its secret taken back');
    assert.equal(h.api.object(`${RBAC}/roles/${READER}`), undefined);
  });

  it('an object placed by a hub before sharing joins its shared policy, and its own policy goes', async () => {
    const h = await hub(named('web', to(['member1'])));
    h.api.put(`${POLICIES}/checkpointbackup-web`, {
      metadata: {
        name: 'checkpointbackup-web',
        namespace: 'shop',
        labels: { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' },
      },
      spec: {
        resourceSelectors: [{ apiVersion: 'migration.dcnlab.com/v1', kind: 'CheckpointBackup', name: 'web' }],
        placement: { clusterAffinity: { clusterNames: ['member1'] } },
      },
    });
    claim(h, 'web', 'checkpointbackup-web');
    await h.backup('web');
    assert.deepEqual(h.api.writes(), [
      `PUT ${BACKUPS}/web/status`,
      `POST ${POLICIES}`,
      `PATCH ${BACKUPS}/web`,
      `DELETE ${POLICIES}/checkpointbackup-web`,
    ]);
    assert.equal(meta(h, 'web').labels?.[LABEL], TO_MEMBER1);
    assert.equal(meta(h, 'web').annotations?.['propagationpolicy.karmada.io/name'], undefined);
  });
});

describe('the hub: each event goes to the queue of the controller it concerns', () => {
  it('folds watch events into backup keys and secret keys, and a Cluster heartbeat into none', async () => {
    const h = await hub();
    const seen = { backups: [] as string[], secrets: [] as string[] };
    h.hub.backups.queue.start(async (k) => void seen.backups.push(k));
    h.hub.secrets.queue.start(async (k) => void seen.secrets.push(k));
    const after = async (change: () => void) => {
      await setImmediate();
      seen.backups.length = 0;
      seen.secrets.length = 0;
      change();
      await setImmediate();
      await setImmediate();
      return { backups: [...seen.backups], secrets: [...seen.secrets] };
    };
    await setImmediate();
    assert.deepEqual(seen, { backups: ['shop/web'], secrets: ['shop/creds'] }, 'what the first list brought');
    assert.deepEqual(
      await after(() => h.api.put(`${CLUSTERS}/member1`, { metadata: { name: 'member1' }, status: ready })),
      { backups: [], secrets: [] },
      'a heartbeat changes no decision',
    );
    assert.deepEqual(
      await after(() =>
        h.api.put(`${CLUSTERS}/member2`, {
          metadata: { name: 'member2' },
          status: { conditions: [{ type: 'Ready', status: 'False' }] },
        }),
      ),
      { backups: ['shop/web'], secrets: [] },
    );
    assert.deepEqual(
      await after(() =>
        h.api.put(`${BINDINGS}/creds-secret`, {
          metadata: { name: 'creds-secret', namespace: 'shop' },
          spec: { resource: { apiVersion: 'v1', kind: 'Secret', name: 'creds', namespace: 'shop' } },
        }),
      ),
      { backups: [], secrets: ['shop/creds'] },
    );
    assert.deepEqual(
      await after(() => h.api.put(`${BINDINGS}/web-deployment`, workloadBinding(['member1']))),
      { backups: ['shop/web'], secrets: [] },
    );
    assert.deepEqual(
      await after(() =>
        h.api.put(`${POLICIES}/users`, {
          metadata: { name: 'users', namespace: 'shop' },
          spec: {
            resourceSelectors: [
              { apiVersion: 'migration.dcnlab.com/v1', kind: 'CheckpointBackup', name: 'web' },
            ],
          },
        }),
      ),
      { backups: ['shop/web'], secrets: [] },
    );
    assert.deepEqual(
      await after(() =>
        h.api.put(`${POLICIES}/registry-secret-creds`, {
          metadata: {
            name: 'registry-secret-creds',
            namespace: 'shop',
            labels: { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' },
          },
          spec: { resourceSelectors: [{ apiVersion: 'v1', kind: 'Secret', name: 'creds' }] },
        }),
      ),
      { backups: [], secrets: ['shop/creds'] },
    );
    assert.deepEqual(
      await after(() =>
        h.api.put(
          BACKUP,
          backup({ registry: { url: 'r.example', repository: 'cp', secretRef: { name: 'other' } } }),
        ),
      ),
      { backups: ['shop/web'], secrets: ['shop/other', 'shop/creds'] },
      'the secret named before and after a change',
    );
    h.hub.backups.stop();
    h.hub.secrets.stop();
  });
});

describe('the hub reads its own writes', () => {
  it('a member report that comes before the watch delivered the last status write costs no 409 and no re-read', async () => {
    const h = await hub();
    await h.backup(); // placed
    const report = (phase: string) => h.api.put(`${BINDINGS}/web-checkpointbackup`, reported({ phase }));
    // The hub's watch of CheckpointBackups falls behind: it has not delivered the first status write below.
    const deliver = h.api.holdWatches(/checkpointbackups\/web$/);
    report('Checkpointing');
    await h.backup();
    assert.deepEqual(h.api.writes(), [`PUT ${BACKUP}/status`]);
    report('Completed');
    await h.backup();
    assert.deepEqual(h.api.writes(), [`PUT ${BACKUP}/status`], 'one write, from the copy it wrote last');
    assert.ok(!h.api.calls.some((c) => c.method === 'GET' && c.path === BACKUP), 'no re-read');
    assert.equal(h.status()?.phase, 'Completed');
    const conflicts = async () =>
      (await h.metrics.statusConflicts.get()).values.reduce((n, v) => n + v.value, 0);
    assert.equal(await conflicts(), 0);

    // Once the watch delivers, the informer's copy is the freshest again: nothing to write.
    deliver();
    assert.equal(await h.backup(), undefined);
    assert.deepEqual(h.api.writes(), []);
  });
});

/** Starts a queue whose reconcile records each key and holds keys named hold* until `release`. */
function recordRuns(queue: { start(r: (k: string) => Promise<undefined>): void }) {
  const runs: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  queue.start(async (k) => {
    runs.push(k);
    if (k.startsWith('hold')) await gate;
    return undefined;
  });
  return { runs, release };
}

describe('the hub: an object not yet placed goes ahead of status work (ADR 0019)', () => {
  it('reconciles a new object before a placed one whose binding changed earlier', async () => {
    const h = await hub();
    const placed: CheckpointBackup = {
      ...backup(),
      metadata: { name: 'placed', namespace: 'shop', generation: 1, labels: { [LABEL]: TO_MEMBER1 } },
      status: { observedGeneration: 1, placement: { clusters: ['member1'], by: 'placement' } },
    };
    h.api.put(`${BACKUPS}/placed`, placed);
    await setImmediate();
    // Its binding's status changes (agent progress): status work, queued first.
    h.api.put(`${BINDINGS}/placed-checkpointbackup`, {
      metadata: { name: 'placed-checkpointbackup', namespace: 'shop' },
      spec: {
        resource: {
          apiVersion: 'migration.dcnlab.com/v1',
          kind: 'CheckpointBackup',
          name: 'placed',
          namespace: 'shop',
        },
      },
    });
    await setImmediate();
    h.api.put(`${BACKUPS}/fresh`, {
      ...backup(),
      metadata: { name: 'fresh', namespace: 'shop', generation: 1 },
    });
    await setImmediate();
    await setImmediate();
    const { runs, release } = recordRuns(h.hub.backups.queue);
    await h.hub.backups.queue.idle();
    assert.deepEqual(runs, ['shop/web', 'shop/fresh', 'shop/placed']);

    // Later, with nothing queued, both bindings change while every worker is busy: the object still unplaced (this
    // test's reconcile writes nothing) goes first, whichever handler queues it.
    runs.length = 0;
    for (let i = 0; i < 8; i++) h.hub.backups.queue.add(`hold${i}`, 9); // every one of the 8 workers
    const binding = (name: string) => ({
      metadata: { name: `${name}-checkpointbackup`, namespace: 'shop' },
      spec: {
        resource: {
          apiVersion: 'migration.dcnlab.com/v1',
          kind: 'CheckpointBackup',
          name,
          namespace: 'shop',
        },
      },
    });
    h.api.put(`${BINDINGS}/placed-checkpointbackup`, {
      ...binding('placed'),
      status: { aggregatedStatus: [] },
    });
    await setImmediate();
    h.api.put(`${BINDINGS}/fresh-checkpointbackup`, binding('fresh'));
    await setImmediate();
    await setImmediate();
    release();
    await h.hub.backups.queue.idle();
    assert.deepEqual(runs.slice(8), ['shop/fresh', 'shop/placed']);
    h.hub.backups.stop();
  });
});

describe('the hub: a member answer not shown yet goes first (ADR 0019)', () => {
  it('reconciles an object whose member reported ahead of a new object, and both ahead of the rest', async () => {
    const h = await hub();
    await h.backup(); // placed: its status lists member1, Pending
    const { runs, release } = recordRuns(h.hub.backups.queue);
    await h.hub.backups.queue.idle();
    runs.length = 0;
    // Every worker: the 8 ordinary ones and the 2 kept for answers (held keys are of the highest priority).
    for (let i = 0; i < 10; i++) h.hub.backups.queue.add(`hold${i}`, 9);
    // In this order: an object whose answer is already shown (its binding changes), a new object, then web's
    // member answers.
    h.api.put(`${BACKUPS}/shown`, {
      ...backup(),
      metadata: { name: 'shown', namespace: 'shop', generation: 1 },
      status: { observedGeneration: 1, clusters: [{ name: 'member1', phase: 'Failed', applied: true }] },
    });
    h.api.put(`${BINDINGS}/shown-checkpointbackup`, {
      ...reported({ phase: 'Failed' }),
      metadata: { name: 'shown-checkpointbackup', namespace: 'shop' },
    });
    await setImmediate();
    h.api.put(`${BACKUPS}/fresh`, {
      ...backup(),
      metadata: { name: 'fresh', namespace: 'shop', generation: 1 },
    });
    await setImmediate();
    h.api.put(`${BINDINGS}/web-checkpointbackup`, reported({ phase: 'Failed' }));
    await setImmediate();
    await setImmediate();
    release();
    await h.hub.backups.queue.idle();
    assert.deepEqual(runs.slice(10), ['shop/web', 'shop/fresh', 'shop/shown']);
    h.hub.backups.stop();
  });

  it('an answer runs while every ordinary worker is busy (2 workers are kept for answers); a new object waits', async () => {
    const h = await hub();
    await h.backup();
    const { runs, release } = recordRuns(h.hub.backups.queue);
    await h.hub.backups.queue.idle();
    runs.length = 0;
    // A burst of bookkeeping holds the 8 ordinary workers.
    for (let i = 0; i < 8; i++) h.hub.backups.queue.add(`hold${i}`);
    h.api.put(`${BACKUPS}/fresh`, {
      ...backup(),
      metadata: { name: 'fresh', namespace: 'shop', generation: 1 },
    });
    h.api.put(`${BINDINGS}/web-checkpointbackup`, reported({ phase: 'Failed' }));
    await setImmediate();
    await setImmediate();
    assert.deepEqual(
      runs.slice(8),
      ['shop/web'],
      'the answer ran; the new object waits for an ordinary worker',
    );
    release();
    await h.hub.backups.queue.idle();
    assert.ok(runs.includes('shop/fresh'));
    h.hub.backups.stop();
  });
});

describe('the hub: one Secret that is both a registry secret and a keys object', () => {
  const bothUses = () => backup({ encryption: { publicKeysRef: { kind: 'Secret', name: 'creds' } } });
  const KEYS_POLICY = 'public-keys-secret-creds';
  /** Karmada's binding of the Secret, claimed by one of the hub's two policies that select it. */
  const claimedBy = (policy: string | undefined) => ({
    metadata: {
      name: 'creds-secret',
      namespace: 'shop',
      ...(policy ? { annotations: { 'propagationpolicy.karmada.io/name': policy } } : {}),
    },
    spec: {
      resource: { apiVersion: 'v1', kind: 'Secret', name: 'creds', namespace: 'shop' },
      clusters: [{ name: 'member1' }],
    },
  });

  it('the end of one use never takes the Secret out of the members while the other use still carries it', async () => {
    const h = await hub(bothUses());
    await h.backup();
    assert.ok(
      h.api.object(`${POLICIES}/registry-secret-creds`) && h.api.object(`${POLICIES}/${KEYS_POLICY}`),
    );
    // Karmada gave the Secret to the registry secret's policy.
    h.api.put(`${BINDINGS}/creds-secret`, claimedBy('registry-secret-creds'));
    // The backup now pulls with another secret: the registry use of creds ends, its use as keys goes on.
    const b = h.api.object<CheckpointBackup>(BACKUP)!;
    h.api.put(BACKUP, {
      ...b,
      spec: { ...b.spec, registry: { ...b.spec.registry!, secretRef: { name: 'other' } } },
    });
    assert.equal(await h.secret(), undefined);
    assert.deepEqual(h.api.writes(), [
      `DELETE ${POLICIES}/registry-secret-creds`,
      `DELETE ${RBAC}/roles/${READER}`,
      `DELETE ${RBAC}/rolebindings/${READER}`,
    ]);
    // Its binding stays: Karmada hands the Secret to the keys policy (it drops a deleted policy's claim and matches
    // the template again) without the members' copy going away in between.
    assert.ok(h.api.object(`${BINDINGS}/creds-secret`));
    assert.ok(h.api.object(`${POLICIES}/${KEYS_POLICY}`));
  });

  it('the last use to end takes it back, whichever policy Karmada left the claim with', async () => {
    for (const claim of ['registry-secret-creds', KEYS_POLICY, undefined]) {
      const h = await hub(bothUses());
      await h.backup();
      h.api.put(`${BINDINGS}/creds-secret`, claimedBy(claim));
      await h.api.client().request('DELETE', BACKUP);
      await h.backup(); // the hub's finalizer: its clean-up
      await h.secret(); // the registry use, first
      await h.run(() => h.hub.secrets.reconcile('keys:Secret:shop/creds'));
      // Both ended: the first saw the other's policy and left the binding; the second sees none and withdraws.
      assert.equal(h.api.object(`${POLICIES}/${KEYS_POLICY}`), undefined);
      assert.equal(h.api.object(`${BINDINGS}/creds-secret`), undefined, `claimed by ${String(claim)}`);
    }
  });

  it("the last use to end while the other's policy is still being deleted (Karmada's finalizer): the Secret is taken back", async () => {
    const h = await hub(bothUses());
    await h.backup();
    // Karmada's finalizer on both policies: a DELETE marks them, and they stay until Karmada lets go.
    for (const name of ['registry-secret-creds', KEYS_POLICY]) {
      const p = h.api.object<{ metadata: Record<string, unknown> }>(`${POLICIES}/${name}`)!;
      h.api.put(`${POLICIES}/${name}`, {
        ...p,
        metadata: { ...p.metadata, finalizers: ['karmada.io/propagation-policy-controller'] },
      });
    }
    h.api.put(`${BINDINGS}/creds-secret`, claimedBy('registry-secret-creds'));
    await h.api.client().request('DELETE', BACKUP);
    await h.backup(); // the hub's finalizer: its clean-up
    await h.secret(); // the registry use ends first: its policy is marked, the keys policy still carries the Secret
    assert.ok(h.api.object(`${BINDINGS}/creds-secret`), 'handed over to the keys use');
    await h.run(() => h.hub.secrets.reconcile('keys:Secret:shop/creds'));
    // The registry policy, only marked, carries nothing: left to it, the binding would be left to no one once
    // Karmada drops both claims, and nothing of the hub's would be left to say the binding was its.
    assert.equal(h.api.object(`${BINDINGS}/creds-secret`), undefined);
  });

  it("deleting one use's policy looks at the other use again (it may have left the binding for it)", async () => {
    const h = await hub(bothUses());
    await h.backup();
    const seen: string[] = [];
    h.hub.secrets.queue.start(async (k) => void seen.push(k));
    await setImmediate();
    seen.length = 0;
    await h.api.client().request('DELETE', `${POLICIES}/${KEYS_POLICY}`);
    await setImmediate();
    await setImmediate();
    assert.deepEqual(seen.sort(), ['keys:Secret:shop/creds', 'shop/creds']);
    h.hub.secrets.stop();
  });
});

/** The Work of backup web in a cluster, as Karmada writes it: the manifest it carries, and the member's status once reflected. */
const workOf = (cluster: string, status?: Record<string, unknown>, applied = true) => ({
  metadata: {
    name: 'web-6b9f',
    namespace: `karmada-es-${cluster}`,
    annotations: {
      'resourcebinding.karmada.io/namespace': 'shop',
      'resourcebinding.karmada.io/name': 'web-checkpointbackup',
    } as Record<string, string>,
  },
  spec: { workload: { manifests: [{ apiVersion: 'migration.dcnlab.com/v1', kind: 'CheckpointBackup' }] } },
  status: {
    conditions: [{ type: 'Applied', status: applied ? 'True' : 'False' }],
    manifestStatuses: [
      {
        identifier: {
          group: 'migration.dcnlab.com',
          version: 'v1',
          kind: 'CheckpointBackup',
          namespace: 'shop',
          name: 'web',
        },
        ...(status ? { status } : {}),
      },
    ],
  },
});

describe("the hub: a member's answer read from its Work, before the binding shows it (ADR 0023)", () => {
  it("shows the Work's report while the binding still says Pending; a Work being deleted, or of a cluster or binding not the object's, is not read", async () => {
    const h = await hub();
    await h.backup(); // placed in member1: Pending
    h.api.put(
      `${BINDINGS}/web-checkpointbackup`,
      reported({ phase: 'Pending', message: 'waiting for the pod' }),
    );
    await h.backup();
    assert.equal(h.status()?.clusters?.[0]?.message, 'waiting for the pod');

    // Works the object's binding did not make, or of a cluster it does not list: nothing changes.
    h.api.put(`${WORKS('ghost')}/web-6b9f`, workOf('ghost', { phase: 'Failed' }));
    const other = workOf('member1', { phase: 'Failed' });
    other.metadata.name = 'forged';
    other.metadata.annotations['resourcebinding.karmada.io/name'] = 'other-checkpointbackup';
    h.api.put(`${WORKS('member1')}/forged`, other);
    assert.equal(await h.backup(), undefined);
    assert.deepEqual(h.api.writes(), []);
    assert.deepEqual(
      h.status()?.clusters?.map((c) => `${c.name} ${c.phase}`),
      ['member1 Pending'],
    );

    h.api.put(
      `${WORKS('member1')}/web-6b9f`,
      workOf('member1', { phase: 'Completed', run: { node: 'm1-a' } }),
    );
    assert.equal(await h.backup(), undefined);
    assert.deepEqual(h.api.writes(), [`PUT ${BACKUP}/status`]);
    assert.equal(h.status()?.phase, 'Completed');
    assert.equal(h.status()?.clusters?.[0]?.node, 'm1-a');
    assert.equal(h.api.events().at(-1), 'Normal AggregateCompleted: Completed in member1');
    // Another binding's Work in the same cluster, after it: the object's own Work still answers.
    const late = workOf('member1', { phase: 'Failed' });
    late.metadata.name = 'forged-late';
    late.metadata.annotations['resourcebinding.karmada.io/name'] = 'other-checkpointbackup';
    h.api.put(`${WORKS('member1')}/forged-late`, late);
    assert.equal(await h.backup(), undefined);
    assert.deepEqual(h.api.writes(), []);
    assert.equal(h.status()?.phase, 'Completed');
    // The cache holds Works without the manifests they carry.
    assert.ok(h.hub.caches.works.list().every((w) => (w as { spec?: unknown }).spec === undefined));

    // Being deleted: Karmada no longer reads it for the binding, and neither does the hub.
    const deleting = workOf('member1', { phase: 'Checkpointing', run: { node: 'm1-a' } });
    h.api.put(`${WORKS('member1')}/web-6b9f`, {
      ...deleting,
      metadata: { ...deleting.metadata, deletionTimestamp: '2026-12-03T09:00:00Z' },
    });
    await h.backup();
    assert.equal(h.status()?.clusters?.[0]?.phase, 'Pending');
    // A report goes with its Work, and the object's entry with its last one.
    for (const w of ['web-6b9f', 'forged', 'forged-late'])
      await h.api.request('DELETE', `${WORKS('member1')}/${w}`);
    await h.api.request('DELETE', `${WORKS('ghost')}/web-6b9f`);
    await setImmediate();
    assert.equal(h.hub.caches.worksReporting(), 0);
  });

  it('a Work that reports a finished run queues its object as an answer, ahead of a new object; other Works queue nothing', async () => {
    const h = await hub();
    await h.backup();
    // Karmada made the binding, and member1's agent has not answered yet.
    h.api.put(`${BINDINGS}/web-checkpointbackup`, reported({ phase: 'Pending' }));
    await h.backup();
    const { runs, release } = recordRuns(h.hub.backups.queue);
    await h.hub.backups.queue.idle();
    runs.length = 0;
    for (let i = 0; i < 10; i++) h.hub.backups.queue.add(`hold${i}`, 9);
    h.api.put(`${BACKUPS}/fresh`, {
      ...backup(),
      metadata: { name: 'fresh', namespace: 'shop', generation: 1 },
    });
    await setImmediate();
    h.api.put(`${WORKS('member1')}/web-deployment-1`, {
      metadata: {
        name: 'web-deployment-1',
        namespace: 'karmada-es-member1',
        annotations: {
          'resourcebinding.karmada.io/namespace': 'shop',
          'resourcebinding.karmada.io/name': 'web-deployment',
        },
      },
      status: {
        manifestStatuses: [
          {
            identifier: { group: 'apps', version: 'v1', kind: 'Deployment', namespace: 'shop', name: 'web' },
          },
        ],
      },
    });
    h.api.put(`${WORKS('member1')}/web-6b9f`, workOf('member1', { phase: 'Failed' }));
    await setImmediate();
    await setImmediate();
    release();
    await h.hub.backups.queue.idle();
    assert.deepEqual(runs.slice(10), ['shop/web', 'shop/fresh']);
    h.hub.backups.stop();
  });
});
