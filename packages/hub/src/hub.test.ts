import assert from 'node:assert/strict';
import { setImmediate } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { rootLogger } from '@stateful-migration/kube';
import { MemoryApi } from '@stateful-migration/kube/testing';
import { hubControllers } from './main.js';
import { HubMetrics } from './metrics.js';

// The hub's two controllers (backups, secrets) against an apiserver in memory, with real informers over it: which objects each reconcile
// writes, in which order, and what it records. The pure decisions have their own tables; this is the I/O around them.

const BACKUPS = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups';
const BACKUP = `${BACKUPS}/web`;
const CLUSTERS = '/apis/cluster.karmada.io/v1alpha1/clusters';
const BINDINGS = '/apis/work.karmada.io/v1alpha2/namespaces/shop/resourcebindings';
const POLICIES = '/apis/policy.karmada.io/v1alpha1/namespaces/shop/propagationpolicies';
const RBAC = '/apis/rbac.authorization.k8s.io/v1/namespaces/shop';
const READER = 'checkpoint-backup-registry-secret-creds';
const ready = { conditions: [{ type: 'Ready', status: 'True' }] };

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

const stops: (() => void)[] = [];
after(() => stops.forEach((s) => s()));

async function hub(b: CheckpointBackup = backup()) {
  const api = new MemoryApi();
  for (const c of ['member1', 'member2'])
    api.put(`${CLUSTERS}/${c}`, { metadata: { name: c }, status: ready });
  api.put(`${BINDINGS}/web-deployment`, workloadBinding(['member1', 'member2']));
  api.put(`${CLUSTERS}/member1/proxy/api/v1/namespaces/shop/pods/web-0`, { metadata: { name: 'web-0' } });
  api.put(BACKUP, b);
  const hub = hubControllers({
    client: api.client(),
    log: rootLogger('test', 'silent'),
    metrics: new HubMetrics(),
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
    backup: () => run(() => hub.backups.reconcile('shop/web')),
    secret: () => run(() => hub.secrets.reconcile('shop/creds')),
    status: () => api.object<CheckpointBackup>(BACKUP)?.status,
  };
}

describe('the hub: CheckpointBackups and their registry secrets', () => {
  it('places by the pod, records it, carries the secret (Role, RoleBinding, policy), then its own policy', async () => {
    const h = await hub();
    assert.equal(await h.backup(), undefined);
    assert.deepEqual(h.api.writes(), [
      `PATCH ${BACKUP}`,
      `PUT ${BACKUP}/status`,
      `POST ${RBAC}/roles`,
      `POST ${RBAC}/rolebindings`,
      `POST ${POLICIES}`,
      `POST ${POLICIES}`,
      `PUT ${BACKUP}/status`,
    ]);
    assert.deepEqual(h.status()?.placement, { clusters: ['member1'], by: 'pod' });
    assert.equal(h.status()?.phase, 'Pending');
    const policy = (name: string) =>
      h.api.object<{ spec: { placement: { clusterAffinity: { clusterNames: string[] } } } }>(
        `${POLICIES}/${name}`,
      )?.spec.placement.clusterAffinity.clusterNames;
    assert.deepEqual(policy('checkpointbackup-web'), ['member1']);
    assert.deepEqual(policy('registry-secret-creds'), ['member1']);
    assert.ok(h.api.object(`${RBAC}/roles/${READER}`));
    assert.deepEqual(h.api.events(), [
      'Normal Placed: PropagationPolicy checkpointbackup-web sends it to member1',
    ]);

    // Nothing changed: no writes from either reconciler.
    assert.equal(await h.backup(), undefined);
    assert.deepEqual(h.api.writes(), []);
    assert.equal(await h.secret(), undefined);
    assert.deepEqual(h.api.writes(), []);

    // The member reports: the aggregate follows, with one Event for the outcome.
    h.api.put(`${BINDINGS}/web-checkpointbackup`, {
      metadata: {
        name: 'web-checkpointbackup',
        namespace: 'shop',
        annotations: { 'propagationpolicy.karmada.io/name': 'checkpointbackup-web' },
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
      status: {
        aggregatedStatus: [
          { clusterName: 'member1', applied: true, status: { phase: 'Completed', run: { node: 'm1-a' } } },
        ],
      },
    });
    assert.equal(await h.backup(), undefined);
    assert.deepEqual(h.api.writes(), [`PUT ${BACKUP}/status`]);
    assert.equal(h.status()?.phase, 'Completed');
    assert.equal(h.api.events().at(-1), 'Normal AggregateCompleted: Completed in member1');

    // Deleted: the hub's policy goes, then its finalizer; the secret follows once nothing needs it.
    await h.api.request('DELETE', BACKUP);
    assert.equal(await h.backup(), undefined);
    assert.deepEqual(h.api.writes(), [`DELETE ${POLICIES}/checkpointbackup-web`, `PATCH ${BACKUP}`]);
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
    h.api.put(`${BINDINGS}/web-checkpointbackup`, {
      metadata: {
        name: 'web-checkpointbackup',
        namespace: 'shop',
        annotations: { 'propagationpolicy.karmada.io/name': 'checkpointbackup-web' },
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
      status: {
        aggregatedStatus: [
          {
            clusterName: 'member1',
            applied: true,
            status: { phase: 'Completed', run: { node: 'm1-a' }, lastCheckpointTime: '2026-01-01T00:00:00Z' },
          },
        ],
      },
    });
    await h.backup();
    await h.api.request('DELETE', `${BINDINGS}/web-deployment`);
    assert.equal(await h.backup(), undefined);
    assert.deepEqual(h.api.writes(), [
      `PUT ${BACKUP}/status`,
      `DELETE ${POLICIES}/checkpointbackup-web`,
      `DELETE ${BINDINGS}/web-checkpointbackup`,
    ]);
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
