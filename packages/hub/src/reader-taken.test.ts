import assert from 'node:assert/strict';
import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { HttpError, rootLogger, type Logger } from '@stateful-migration/kube';
import { MemoryApi } from '@stateful-migration/kube/testing';
import { hubControllers } from './main.js';
import { HubMetrics } from './metrics.js';
import { HUB_FINALIZER } from './policies.js';
import { hubRecordingBackupKeys } from './queue-recorder.test-support.js';

// The hub carries a registry secret to members with a Role and a RoleBinding named
// checkpoint-backup-registry-secret-<secret>, by name, with conflictResolution Overwrite. One of those names taken in
// the namespace by an object that is not the hub's (a tenant's own RBAC) must not be carried to members under
// Karmada's identity: the backup is refused, naming it, and no policy is written.

const GROUP = '/apis/migration.dcnlab.com/v1';
const BACKUP = `${GROUP}/namespaces/shop/checkpointbackups/b`;
const RBAC = '/apis/rbac.authorization.k8s.io/v1/namespaces/shop';
const READER = 'checkpoint-backup-registry-secret-creds';
const POLICIES = '/apis/policy.karmada.io/v1alpha1/namespaces/shop/propagationpolicies';
const BINDINGS = '/apis/work.karmada.io/v1alpha2/namespaces/shop/resourcebindings';

function backup(status?: CheckpointBackup['status']): CheckpointBackup {
  return {
    apiVersion: 'migration.dcnlab.com/v1',
    kind: 'CheckpointBackup',
    metadata: { name: 'b', namespace: 'shop', uid: 'b-uid', generation: 1, finalizers: [HUB_FINALIZER] },
    spec: {
      schedule: 'immediately',
      podRef: { name: 'web-0' },
      resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web' },
      registry: { url: 'reg.example', repository: 'shop/ck', secretRef: { name: 'creds' } },
      placement: { clusterAffinity: { clusterNames: ['member1'] } },
    },
    ...(status ? { status } : {}),
  };
}

const stops: (() => void)[] = [];
after(() => stops.forEach((s) => s()));

/** Karmada with the backup, the cluster member1 and, in the namespace, a Role or RoleBinding named as the reader. */
async function karmada(
  taken: { kind: 'roles' | 'rolebindings'; labels?: Record<string, string> },
  b = backup(),
  more: (api: MemoryApi) => void = () => undefined,
) {
  const api = new MemoryApi();
  api.put(BACKUP, b);
  api.put('/apis/cluster.karmada.io/v1alpha1/clusters/member1', {
    metadata: { name: 'member1' },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  });
  api.put(`${RBAC}/${taken.kind}/${READER}`, {
    metadata: { name: READER, namespace: 'shop', ...(taken.labels ? { labels: taken.labels } : {}) },
    rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }],
  });
  more(api);
  const { hub, queued: requeued, stop } = await hubRecordingBackupKeys(api);
  stops.push(stop);
  return { api, hub, requeued };
}

const message = (what: string) =>
  `${what} shop/${READER} exists and is not the hub's (no label app.kubernetes.io/managed-by=stateful-migration-hub): ` +
  'the hub would carry it to members as the reader of registry secret shop/creds; it carries neither, so this ' +
  'object is not placed: delete or rename it, or name another secret in spec.registry.secretRef';

describe("the reader Role and RoleBinding of a registry secret: a name taken by an object not the hub's", () => {
  for (const [kind, what] of [
    ['roles', 'Role'],
    ['rolebindings', 'RoleBinding'],
  ] as const)
    it(`a ${what} of that name without the hub's label: Failed with a Warning naming it; no policy written, nothing carried`, async () => {
      const { api, hub } = await karmada({ kind, labels: { team: 'shop' } });
      assert.deepEqual(await hub.backups.reconcile('shop/b'), { requeueAfterMs: 60_000 });
      const s = api.object<CheckpointBackup>(BACKUP)!.status!;
      assert.equal(s.phase, 'Failed');
      assert.equal(s.message, message(what));
      assert.deepEqual(api.events(), [`Warning RegistrySecretReaderTaken: ${message(what)}`]);
      assert.deepEqual(
        api.writes().filter((w) => w.includes('/propagationpolicies') || w.includes('/rbac.authorization')),
        [],
        'no policy (secret or backup) and no RBAC written',
      );
      assert.ok(!api.object(`${POLICIES}/registry-secret-creds`));
    });

  it('reconciling the secret itself (its key) writes no policy either, and withdraws a policy the hub wrote before', async () => {
    const placed = backup({ placement: { clusters: ['member1'], by: 'placement' } });
    const claimed = (resource: { apiVersion: string; kind: string; name: string }) => ({
      metadata: {
        name: `${resource.name}-${resource.kind.toLowerCase()}`,
        namespace: 'shop',
        annotations: { 'propagationpolicy.karmada.io/name': 'registry-secret-creds' },
      },
      spec: { resource: { ...resource, namespace: 'shop' }, clusters: [{ name: 'member1' }] },
    });
    const { api, hub, requeued } = await karmada({ kind: 'roles' }, placed, (api) => {
      api.put(`${POLICIES}/registry-secret-creds`, {
        apiVersion: 'policy.karmada.io/v1alpha1',
        kind: 'PropagationPolicy',
        metadata: {
          name: 'registry-secret-creds',
          namespace: 'shop',
          labels: { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' },
        },
        spec: { resourceSelectors: [], placement: { clusterAffinity: { clusterNames: ['member1'] } } },
      });
      api.put(`${BINDINGS}/creds-secret`, claimed({ apiVersion: 'v1', kind: 'Secret', name: 'creds' }));
      for (const kind of ['Role', 'RoleBinding'])
        api.put(
          `${BINDINGS}/${READER}-${kind.toLowerCase()}`,
          claimed({ apiVersion: 'rbac.authorization.k8s.io/v1', kind, name: READER }),
        );
    });
    assert.equal(await hub.secrets.reconcile('shop/creds'), undefined);
    assert.ok(
      !api.writes().some((w) => w.startsWith('POST') || w.startsWith('PUT')),
      api.writes().join('\n'),
    );
    assert.deepEqual(api.writes(), [
      `DELETE ${POLICIES}/registry-secret-creds`,
      `DELETE ${BINDINGS}/creds-secret`,
      `DELETE ${BINDINGS}/${READER}-role`,
      `DELETE ${BINDINGS}/${READER}-rolebinding`,
    ]);
    assert.ok(api.object(`${RBAC}/roles/${READER}`), "the tenant's Role is left alone");
    await setImmediate();
    assert.deepEqual(requeued, ['shop/b'], 'the backup using the secret is looked at again (and refused)');
  });

  it("the hub's own Role and RoleBinding: carried as before", async () => {
    const { api, hub } = await karmada({
      kind: 'roles',
      labels: { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' },
    });
    assert.equal(await hub.backups.reconcile('shop/b'), undefined);
    assert.notEqual(api.object<CheckpointBackup>(BACKUP)!.status!.phase, 'Failed');
    assert.ok(api.object(`${POLICIES}/registry-secret-creds`));
  });
});

describe("the hub's own reader Role and RoleBinding come from its cache (HubCaches.readerRoles)", () => {
  const HUB = { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' };
  const reads = (api: MemoryApi) =>
    api.calls.filter((c) => c.method === 'GET' && c.path.includes('/rbac.authorization')).map((c) => c.path);

  /** Placed once, the caches caught up: the Role and RoleBinding the hub made are in its cache. */
  async function placed() {
    const k = await karmada({ kind: 'roles', labels: HUB });
    await k.api.request('DELETE', `${RBAC}/roles/${READER}`);
    assert.equal(await k.hub.backups.reconcile('shop/b'), undefined);
    await setImmediate();
    assert.ok(k.api.object(`${RBAC}/roles/${READER}`) && k.api.object(`${RBAC}/rolebindings/${READER}`));
    assert.ok(k.hub.caches.readerRoles.get(`shop/${READER}`), 'the Role the hub made is cached');
    assert.ok(k.hub.caches.readerBindings.get(`shop/${READER}`), 'the RoleBinding the hub made is cached');
    k.api.resetCalls();
    return k;
  }

  it('a reconcile of a placed object with a registry secret reads no Role or RoleBinding, and writes nothing', async () => {
    const { api, hub } = await placed();
    assert.equal(await hub.backups.reconcile('shop/b'), undefined);
    assert.deepEqual(reads(api), [], 'no GET of the reader Role or RoleBinding');
    assert.deepEqual(api.writes(), []);
  });

  it('the Role deleted behind its back: the event queues the secret, whose reconcile makes it again', async () => {
    const { api, hub } = await placed();
    const queued: string[] = [];
    hub.secrets.queue.start(async (k) => void queued.push(k));
    stops.push(() => hub.secrets.queue.stop());
    await setImmediate();
    queued.length = 0;
    await api.request('DELETE', `${RBAC}/roles/${READER}`);
    await setImmediate();
    assert.equal(hub.caches.readerRoles.get(`shop/${READER}`), undefined);
    assert.deepEqual(queued, ['shop/creds'], 'the secret whose reader it was, and nothing else');
    assert.equal(await hub.secrets.reconcile('shop/creds'), undefined);
    assert.ok(api.object(`${RBAC}/roles/${READER}`), 'made again');
    assert.ok(api.writes().includes(`POST ${RBAC}/roles`));
  });

  it("the hub's label taken off its Role (a tenant may): it leaves the cache, and the backup is refused, naming it", async () => {
    const { api, hub } = await placed();
    const stored = api.object<{ metadata: Record<string, unknown> }>(`${RBAC}/roles/${READER}`)!;
    api.put(`${RBAC}/roles/${READER}`, {
      ...stored,
      metadata: { ...stored.metadata, labels: { team: 'shop' } },
    });
    await setImmediate();
    assert.equal(hub.caches.readerRoles.get(`shop/${READER}`), undefined, 'out of the label-selected cache');
    assert.deepEqual(await hub.backups.reconcile('shop/b'), { requeueAfterMs: 60_000 });
    const s = api.object<CheckpointBackup>(BACKUP)!.status!;
    assert.equal(s.phase, 'Failed');
    assert.equal(s.message, message('Role'));
  });

  it("a Role of another name, or the hub's of another secret, is not taken for this secret's", async () => {
    const { api, hub } = await placed();
    api.put(`${RBAC}/roles/${READER}-x`, {
      metadata: { name: `${READER}-x`, namespace: 'shop', labels: HUB },
    });
    api.put(`/apis/rbac.authorization.k8s.io/v1/namespaces/other/roles/${READER}`, {
      metadata: { name: READER, namespace: 'other', labels: HUB },
    });
    await api.request('DELETE', `${RBAC}/rolebindings/${READER}`);
    await setImmediate();
    assert.equal(await hub.secrets.reconcile('shop/creds'), undefined);
    assert.ok(api.object(`${RBAC}/rolebindings/${READER}`), 'the RoleBinding is made again');
  });
});

/**
 * A tenant who makes a Role or RoleBinding of the reader's name, without the hub's label, just before the hub's
 * create of it reaches the apiserver (once); returns whether it did.
 */
function tenantRaces(api: MemoryApi, kind: 'roles' | 'rolebindings', body: object): () => boolean {
  let raced = false;
  api.route = (method, path) => {
    if (method !== 'POST' || path !== `${RBAC}/${kind}` || raced) return undefined;
    raced = true;
    api.put(`${RBAC}/${kind}/${READER}`, { metadata: { name: READER, namespace: 'shop' }, ...body });
    return undefined;
  };
  return () => raced;
}

/** The hub's controllers over the apiserver, caches started (not awaited: the caller decides how long to wait). */
function hubOver(api: MemoryApi, o: { log?: Logger; defaultSecretRegistries?: string[] } = {}) {
  const hub = hubControllers({
    client: api.client(),
    log: o.log ?? rootLogger('test', 'silent'),
    metrics: new HubMetrics(),
    identity: 'hub-0',
    ...(o.defaultSecretRegistries ? { defaultSecretRegistries: o.defaultSecretRegistries } : {}),
  });
  stops.push(() => hub.caches.stop());
  return { hub, started: hub.caches.start() };
}

describe('the reader cache under races, events it cannot see, and an older RBAC', () => {
  const HUB = { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' };
  const POLICY = `${POLICIES}/registry-secret-creds`;

  /** Placed, with the Role and RoleBinding the hub made in its cache, and the secrets queue recording its keys. */
  async function placed() {
    const k = await karmada({ kind: 'roles', labels: HUB });
    await k.api.request('DELETE', `${RBAC}/roles/${READER}`);
    assert.equal(await k.hub.backups.reconcile('shop/b'), undefined);
    await setImmediate();
    assert.ok(k.hub.caches.readerRoles.get(`shop/${READER}`));
    assert.ok(k.api.object(POLICY));
    const queued: string[] = [];
    k.hub.secrets.queue.start(async (key) => void queued.push(key));
    stops.push(() => k.hub.secrets.queue.stop());
    // Every event of the placement delivered and its keys run.
    await sleep(50);
    queued.length = 0;
    k.api.resetCalls();
    return { ...k, queued };
  }

  it("the hub's Role of the same name in another namespace does not stand in for this one's", async () => {
    const { api, hub } = await placed();
    api.put(`/apis/rbac.authorization.k8s.io/v1/namespaces/other/roles/${READER}`, {
      metadata: { name: READER, namespace: 'other', labels: HUB },
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['creds'] }],
    });
    await api.request('DELETE', `${RBAC}/roles/${READER}`);
    await setImmediate();
    assert.equal(await hub.secrets.reconcile('shop/creds'), undefined);
    assert.ok(api.object(`${RBAC}/roles/${READER}`), "shop's Role is made again");
  });

  it("a tenant's Role that wins the race for the name (made between the hub's read and its create) is not carried", async () => {
    const { api, hub, requeued } = await placed();
    const raced = tenantRaces(api, 'roles', {
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] }],
    });
    await api.request('DELETE', `${RBAC}/roles/${READER}`);
    await setImmediate();
    requeued.length = 0;
    assert.equal(await hub.secrets.reconcile('shop/creds'), undefined);
    assert.ok(raced());
    assert.equal(
      api.object<{ metadata: { labels?: object } }>(`${RBAC}/roles/${READER}`)!.metadata.labels,
      undefined,
    );
    assert.ok(!api.object(POLICY), "the policy that would carry the tenant's Role by name is withdrawn");
    await setImmediate();
    assert.deepEqual(requeued, ['shop/b'], 'the backup using the secret is looked at again (and refused)');
    // The backup's own reconcile meets it too, and is refused naming it.
    assert.deepEqual(await hub.backups.reconcile('shop/b'), { requeueAfterMs: 60_000 });
    assert.equal(api.object<CheckpointBackup>(BACKUP)!.status!.message, message('Role'));
  });

  it("a backup's reconcile that meets a name taken under it stops before its own policy, and is retried", async () => {
    const { api, hub } = await placed();
    await api.request('DELETE', `${RBAC}/rolebindings/${READER}`);
    await setImmediate();
    const raced = tenantRaces(api, 'rolebindings', {
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
      subjects: [{ kind: 'Group', name: 'system:authenticated' }],
    });
    // refusal() read the RoleBinding as absent; syncFor's create meets the tenant's.
    const before = api.object<CheckpointBackup>(BACKUP)!.metadata.resourceVersion;
    await assert.rejects(
      hub.backups.reconcile('shop/b'),
      /RoleBinding shop\/checkpoint-backup-registry-secret-creds exists and is not the hub's.*retrying/,
    );
    assert.ok(raced());
    assert.equal(
      api.object<CheckpointBackup>(BACKUP)!.metadata.resourceVersion,
      before,
      'no write of the object after it',
    );
  });

  it("a Role or RoleBinding that Karmada binds under a reader name queues the secret (a tenant's is invisible to the label-selected cache)", async () => {
    const { api, queued } = await placed();
    await sleep(50);
    assert.deepEqual(queued, [], 'nothing queued before the binding');
    api.put(`${BINDINGS}/${READER}-role`, {
      metadata: { name: `${READER}-role`, namespace: 'shop' },
      spec: {
        resource: {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'Role',
          name: READER,
          namespace: 'shop',
        },
      },
    });
    await setImmediate();
    assert.deepEqual(queued, ['shop/creds']);
  });

  it('a Role the hub deleted itself is not taken from the cache before the cache has seen it go', async () => {
    const { api, hub } = await placed();
    const deliver = api.holdWatches(/\/roles\//);
    // Nothing needs the secret: withdrawn, its Role deleted; the cache has not been told.
    const b = api.object<CheckpointBackup>(BACKUP)!;
    api.put(BACKUP, { ...b, status: { ...b.status, placement: { clusters: [], by: 'placement' } } });
    await setImmediate();
    assert.equal(await hub.secrets.reconcile('shop/creds'), undefined);
    assert.equal(api.object(`${RBAC}/roles/${READER}`), undefined, 'withdrawn');
    assert.ok(hub.caches.readerRoles.get(`shop/${READER}`), 'still in the cache');
    // Needed again before the watch delivers the delete: made again.
    api.put(BACKUP, b);
    await setImmediate();
    api.resetCalls();
    await hub.secrets.syncFor(api.object<CheckpointBackup>(BACKUP)!);
    assert.ok(api.writes().includes(`POST ${RBAC}/roles`), api.writes().join('\n'));
    assert.ok(api.object(`${RBAC}/roles/${READER}`));
    deliver();
  });

  it('a reader Role event queues the keys object and the platform default secret it reads for', async () => {
    const api = new MemoryApi();
    api.put(`${GROUP}/namespaces/shop/checkpointbackups/b`, {
      ...backup(),
      spec: {
        ...backup().spec,
        registry: { url: 'platform.example', repository: 'shop/ck' },
        encryption: { publicKeysRef: { kind: 'ConfigMap', name: 'pub' } },
      },
    });
    const keysRole = `${RBAC}/roles/checkpoint-backup-public-keys-configmap-pub`;
    const platformRole =
      '/apis/rbac.authorization.k8s.io/v1/namespaces/stateful-migration/roles/checkpoint-backup-registry-secret-registry-credentials';
    for (const path of [keysRole, platformRole]) {
      const [, ns, name] = /namespaces\/([^/]+)\/roles\/(.+)$/.exec(path)!;
      api.put(path, { metadata: { name, namespace: ns, labels: HUB } });
    }
    const { hub, started } = hubOver(api, { defaultSecretRegistries: ['platform.example'] });
    await started;
    const queued: string[] = [];
    hub.secrets.queue.start(async (k) => void queued.push(k));
    stops.push(() => hub.secrets.queue.stop());
    await setImmediate();
    queued.length = 0;
    await api.request('DELETE', keysRole);
    await api.request('DELETE', platformRole);
    await setImmediate();
    assert.deepEqual(queued.sort(), ['keys:ConfigMap:shop/pub', 'stateful-migration/registry-credentials']);
  });

  it('a hub whose RBAC may not list Roles (an older karmada release) syncs, is ready, and reads each Role instead', async () => {
    const api = new MemoryApi();
    api.put(BACKUP, backup());
    api.put('/apis/cluster.karmada.io/v1alpha1/clusters/member1', {
      metadata: { name: 'member1' },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
    api.route = (method, path) =>
      method === 'GET' && /\/rbac\.authorization\.k8s\.io\/v1\/(roles|rolebindings)$/.test(path)
        ? new HttpError(403, 'forbidden: cannot list resource "roles"', 'Forbidden')
        : undefined;
    const warnings: string[] = [];
    const log = rootLogger('test', 'silent');
    log.warn = ((_o: unknown, msg: string) => void warnings.push(msg)) as typeof log.warn;
    const o = hubOver(api, { log });
    const hub = o.hub;
    const started = await Promise.race([o.started.then(() => true), sleep(3000).then(() => false)]);
    assert.equal(started, true, 'the caches the controllers need have listed');
    assert.equal(hub.caches.ready(), true);
    assert.equal(await hub.backups.reconcile('shop/b'), undefined);
    assert.ok(api.object(`${RBAC}/roles/${READER}`), 'the Role made, read by name');
    assert.ok(api.object(`${POLICIES}/registry-secret-creds`));
    assert.ok(
      warnings.some((w) =>
        /may not list and watch roles .*upgrade the chart's installMode=karmada release/.test(w),
      ),
      warnings.join('\n'),
    );
  });
});
