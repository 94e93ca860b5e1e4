import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { EventRecorder, rootLogger } from '@stateful-migration/kube';
import { MemoryApi } from '@stateful-migration/kube/testing';
import type { HubCaches } from '../caches.js';
import { EvictionGate } from './gate.js';
import { DrainReplacements } from './replacement.js';

// The gate and the replacement shells against an in-memory apiserver: what they write, and that a second gate (a
// restarted hub) answers from what the first wrote, never making a second checkpoint. The federation's e2e
// (drain.e2e.test.ts) runs them against real apiservers, agents and kubectl drain.

const log = rootLogger('test', 'silent');
const GROUP = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups';
const POD = '/apis/cluster.karmada.io/v1alpha1/clusters/member1/proxy/api/v1/namespaces/shop/pods/db-0';
const UID = '0123abcd-0000-0000-0000-000000000000';
const NAME = 'drain-db-0-0123abcd';

const covering: CheckpointBackup = {
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointBackup',
  metadata: { name: 'db', namespace: 'shop', uid: 'b-uid' },
  spec: {
    schedule: '0 0 1 1 *',
    resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
    registry: { url: 'reg.example:5000', repository: 'team/cp', secretRef: { name: 'push' } },
    keepState: { eviction: { timeoutSeconds: 60 } },
  },
  status: { placement: { clusters: ['member1'], by: 'workload' } },
};

function world() {
  const api = new MemoryApi();
  api.put(POD, {
    metadata: {
      name: 'db-0',
      namespace: 'shop',
      uid: UID,
      labels: { 'controller-revision-hash': 'db-v1' },
      ownerReferences: [{ kind: 'StatefulSet', name: 'db', uid: 'sts-uid', controller: true }],
    },
    spec: { nodeName: 'm1-a', containers: [{ name: 'counter' }] },
    status: { phase: 'Running' },
  });
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  api.put('/api/v1/namespaces/shop/secrets/push', {
    data: { username: b64('alice'), password: b64('s3cret') },
  });
  const caches = {
    ready: () => true,
    backups: { list: () => [covering] },
    bindingOf: () => undefined,
  } as unknown as HubCaches;
  const shell = (now = new Date()) => ({
    client: api.client(),
    caches,
    events: new EventRecorder(api.client(), 'test'),
    log,
    now: () => now,
  });
  return { api, shell };
}

/** The drain checkpoint's member result as the hub copies it: Completed, its one container pushed. */
function pushed(api: MemoryApi): void {
  const cp = api.object<CheckpointBackup>(`${GROUP}/${NAME}`)!;
  const image = {
    containerName: 'counter',
    imageName: 'reg.example:5000/team/cp/x:1',
    digest: 'sha256:abc',
    buildTime: '2026-12-01T10:00:00Z',
    pushed: true,
  };
  api.put(`${GROUP}/${NAME}`, {
    ...cp,
    status: { clusters: [{ name: 'member1', phase: 'Completed', applied: true, builtImages: [image] }] },
  });
}

const eviction = { uid: 'r1', operation: 'CREATE', namespace: 'shop', name: 'db-0', subResource: 'eviction' };

describe('EvictionGate against an apiserver', () => {
  it('the first eviction makes the policy, the pull secret and the drain checkpoint, in that order, and answers 429', async () => {
    const { api, shell } = world();
    const r = await new EvictionGate(shell()).handle('member1', eviction);
    assert.equal(r.allowed, false);
    assert.equal(!r.allowed && r.status.code, 429);
    const made = api.calls
      .filter((c) => c.method === 'POST' && !c.path.includes('/events'))
      .map((c) => c.path);
    assert.deepEqual(made, [
      '/apis/policy.karmada.io/v1alpha1/namespaces/shop/propagationpolicies',
      '/api/v1/namespaces/shop/secrets',
      GROUP,
    ]);
    assert.equal(api.object<CheckpointBackup>(`${GROUP}/${NAME}`)?.spec.podRef?.name, 'db-0');
    const secret = api.object<{ type: string; data: Record<string, string> }>(
      `/api/v1/namespaces/shop/secrets/${NAME}-pull`,
    );
    assert.equal(secret?.type, 'kubernetes.io/dockerconfigjson');
  });

  it('a restarted hub answers from the object: 429 while it is pushed, no second create; then allowed', async () => {
    const { api, shell } = world();
    await new EvictionGate(shell()).handle('member1', eviction);
    api.calls.length = 0;
    const again = await new EvictionGate(shell()).handle('member1', eviction);
    assert.equal(again.allowed, false);
    assert.match(!again.allowed ? again.status.message : '', /waiting for checkpoint drain-db-0-0123abcd/);
    assert.deepEqual(
      api.calls.filter((c) => c.method === 'POST' && !c.path.includes('/events')),
      [],
      'nothing made again',
    );
    pushed(api);
    assert.deepEqual(await new EvictionGate(shell()).handle('member1', eviction), {
      uid: 'r1',
      allowed: true,
    });
  });

  it('a dry run is answered 429 and makes nothing', async () => {
    const { api, shell } = world();
    const r = await new EvictionGate(shell()).handle('member1', { ...eviction, dryRun: true });
    assert.equal(r.allowed, false);
    assert.deepEqual(
      api.calls.filter((c) => c.method !== 'GET'),
      [],
    );
  });

  it('timed out: allowed with a warning, the checkpoint marked spent, a Warning Event on the backup', async () => {
    const { api, shell } = world();
    await new EvictionGate(shell()).handle('member1', eviction);
    const later = new Date(Date.now() + 61_000);
    const r = await new EvictionGate(shell(later)).handle('member1', eviction);
    assert.equal(r.allowed, true);
    assert.match((r.allowed && r.warnings?.[0]) || '', /was not pushed within 60s/);
    assert.equal(
      api.object<CheckpointBackup>(`${GROUP}/${NAME}`)?.metadata.annotations?.[
        'migration.dcnlab.com/claimed-by'
      ],
      'none: the pod was evicted without it: CheckpointTimedOut',
    );
    assert.ok(
      api.events().some((e) => /EvictedWithoutState/.test(e)),
      api.events().join('\n'),
    );
  });

  it('the pod cannot be read: allowed with a warning (the gate fails open)', async () => {
    const { api, shell } = world();
    api.route = (method, path) => (method === 'GET' && path === POD ? new Error('proxy down') : undefined);
    const r = await new EvictionGate(shell()).handle('member1', eviction);
    assert.equal(r.allowed, true);
    assert.match((r.allowed && r.warnings?.[0]) || '', /evicted without its state: .*proxy down/);
  });
});

describe('DrainReplacements against an apiserver', () => {
  const create = (uid: string, revision = 'db-v1') => ({
    uid,
    operation: 'CREATE',
    namespace: 'shop',
    kind: { group: '', kind: 'Pod' },
    object: {
      metadata: {
        name: 'db-0',
        namespace: 'shop',
        labels: { 'controller-revision-hash': revision },
        ownerReferences: [{ kind: 'StatefulSet', name: 'db', uid: 'sts-uid', controller: true }],
      },
      spec: { containers: [{ name: 'counter', image: 'registry.local/counter:1' }] },
    },
  });

  it('claims the pushed drain checkpoint once: the pod gets it, a second pod of the same name does not', async () => {
    const { api, shell } = world();
    await new EvictionGate(shell()).handle('member1', eviction);
    pushed(api);
    const first = await new DrainReplacements(shell()).handle('member1', create('a1'));
    const ops = JSON.parse(Buffer.from(first.patch ?? '', 'base64').toString()) as {
      path: string;
      value: unknown;
    }[];
    assert.deepEqual(
      ops.find((o) => o.path === '/spec/containers/0/image')?.value,
      'reg.example:5000/team/cp/x@sha256:abc',
    );
    assert.deepEqual(ops.find((o) => o.path === '/spec/imagePullSecrets')?.value, [{ name: `${NAME}-pull` }]);
    assert.equal(
      api.object<CheckpointBackup>(`${GROUP}/${NAME}`)?.metadata.annotations?.[
        'migration.dcnlab.com/claimed-by'
      ],
      'db-0',
    );
    const second = await new DrainReplacements(shell()).handle('member1', create('a2'));
    assert.equal(second.patch, undefined, 'a checkpoint restores one pod');
  });

  it('a pod of another revision (the StatefulSet rolled out since the eviction) gets nothing and claims nothing', async () => {
    const { api, shell } = world();
    await new EvictionGate(shell()).handle('member1', eviction);
    pushed(api);
    assert.equal(
      api.object<CheckpointBackup>(`${GROUP}/${NAME}`)?.metadata.annotations?.[
        'migration.dcnlab.com/drain-revision'
      ],
      'db-v1',
    );
    const r = await new DrainReplacements(shell()).handle('member1', create('a1', 'db-v2'));
    assert.equal(r.patch, undefined);
    assert.equal(
      api.object<CheckpointBackup>(`${GROUP}/${NAME}`)?.metadata.annotations?.[
        'migration.dcnlab.com/claimed-by'
      ],
      undefined,
    );
  });
});
