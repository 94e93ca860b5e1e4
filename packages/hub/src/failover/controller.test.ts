import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HUB_WEBHOOK_POLICY_PATH, hubWebhookOwner, type CheckpointBackup } from '@stateful-migration/api';
import type { EventRecorder, RestClient } from '@stateful-migration/kube';
import type { HubCaches } from '../caches.js';
import { FailoverController } from './controller.js';
import { failoverWebhookConfiguration, failoverWebhookName } from './webhook.js';
import { optedIn, quiet } from './fixtures.test-support.js';
import type { FailoverRecorder } from './record.js';

const backup = optedIn({ secretRef: { name: 'reg-creds' } });

/** A hub with one Ready member and the given answer for the backup's registry secret. */
function setup(
  secret: () => Promise<unknown>,
  existing: Record<string, unknown> = {},
  policy: () => Promise<unknown> = () => Promise.resolve({ metadata: { uid: 'policy-uid' } }),
) {
  const calls: { method: string; path: string; body?: unknown }[] = [];
  const events: [string, string, string][] = [];
  const notFound = () => Promise.reject(Object.assign(new Error('not found'), { statusCode: 404 }));
  const client = {
    get: (path: string) => {
      calls.push({ method: 'GET', path });
      if (path === '/api/v1/namespaces/shop/secrets/reg-creds') return secret();
      if (path.endsWith('/checkpointbackups/db')) return Promise.resolve(backup);
      if (path.endsWith(HUB_WEBHOOK_POLICY_PATH)) return policy();
      const name = Object.keys(existing).find((k) => path.endsWith(k));
      if (name) return Promise.resolve(existing[name]);
      return notFound();
    },
    request: (method: string, path: string, o: { body?: unknown } = {}) => {
      calls.push({ method, path, body: o.body });
      return Promise.resolve(o.body);
    },
  } as unknown as RestClient;
  const caches = {
    backups: { on: () => {}, get: () => backup, list: () => [backup] },
    bindings: { on: () => {} },
    clusters: {
      on: () => {},
      list: () => [
        { metadata: { name: 'member2' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
      ],
    },
    bindingOf: () => undefined,
  } as unknown as HubCaches;
  const c = new FailoverController({
    client,
    caches,
    recorder: {} as FailoverRecorder,
    events: {
      emit: async (_o: unknown, type: string, reason: string, message: string) => {
        events.push([type, reason, message]);
      },
    } as unknown as EventRecorder,
    endpoint: { url: 'https://hub.example:9443', caBundle: 'Y2E=' },
    log: quiet,
  });
  return { c, calls, events };
}

const webhookCreated = (calls: { method: string; path: string }[]) =>
  calls.some(
    (x) =>
      x.method === 'POST' &&
      x.path.includes('/member2/') &&
      x.path.endsWith('/mutatingwebhookconfigurations'),
  );

describe('the failover controller keeps the pull secret and the webhooks independent', () => {
  it('a failing read of the registry secret still leaves the webhook configuration written, and retries', async () => {
    const { c, calls } = setup(() => Promise.reject(Object.assign(new Error('boom'), { statusCode: 500 })));
    const r = await c.reconcile('shop/db');
    assert.ok(webhookCreated(calls), JSON.stringify(calls));
    assert.ok(r && r.requeueAfterMs! > 0);
  });
  for (const [what, secret] of [
    ['missing', () => Promise.reject(Object.assign(new Error('nf'), { statusCode: 404 }))],
    ['empty', () => Promise.resolve({ data: {} })],
  ] as const) {
    it(`a ${what} registry secret: a FailoverPullSecret condition False and a Warning Event, no pull secret`, async () => {
      const { c, calls, events } = setup(secret);
      await c.reconcile('shop/db');
      assert.ok(webhookCreated(calls));
      assert.deepEqual(
        events.map(([t, r]) => [t, r]),
        [['Warning', 'FailoverPullSecretMissing']],
      );
      assert.match(events[0]![2], /reg-creds/);
      const put = calls.find((x) => x.method === 'PUT' && x.path.endsWith('/checkpointbackups/db/status'));
      const cond = (put?.body as CheckpointBackup | undefined)?.status?.conditions?.find(
        (x) => x.type === 'FailoverPullSecret',
      );
      assert.deepEqual([cond?.status, cond?.reason], ['False', 'FailoverPullSecretMissing']);
      assert.ok(
        !calls.some((x) => x.method === 'POST' && x.path.startsWith('/api/v1/namespaces/shop/secrets')),
      );
    });
  }

  const creds = () =>
    Promise.resolve({
      data: { username: Buffer.from('u').toString('base64'), password: Buffer.from('p').toString('base64') },
    });
  it('the pull secret policy has the top priority, so no tenant policy keeps the pull secret from propagating', async () => {
    const { c, calls, events } = setup(creds);
    await c.reconcile('shop/db');
    const policy = calls.find((x) => x.method === 'POST' && x.path.endsWith('/propagationpolicies'))
      ?.body as {
      spec: { priority?: number };
      metadata: { labels: Record<string, string> };
    };
    assert.equal(policy?.spec.priority, 2_147_483_647);
    assert.equal(policy.metadata.labels['app.kubernetes.io/managed-by'], 'stateful-migration-hub');
    assert.ok(calls.some((x) => x.method === 'POST' && x.path === '/api/v1/namespaces/shop/secrets'));
    assert.deepEqual(events, []);
  });
  for (const [what, path] of [
    ['Secret', '/secrets/db-failover-pull'],
    ['PropagationPolicy', '/propagationpolicies/db-failover-pull'],
  ] as const) {
    it(`a ${what} of the pull secret's name the hub did not create is never overwritten: condition False and a Warning`, async () => {
      const theirs = {
        metadata: { name: 'db-failover-pull', namespace: 'shop', labels: { app: 'mine' } },
        data: { '.dockerconfigjson': 'dGhlaXJz' },
        spec: { resourceSelectors: [], placement: {} },
      };
      const { c, calls, events } = setup(creds, { [path]: theirs });
      await c.reconcile('shop/db');
      assert.ok(!calls.some((x) => x.method !== 'GET' && x.path.endsWith(path)), JSON.stringify(calls));
      assert.deepEqual(
        events.map(([t, r]) => [t, r]),
        [['Warning', 'FailoverPullSecretConflict']],
      );
      assert.match(events[0]![2], new RegExp(`${what} db-failover-pull`));
      assert.ok(webhookCreated(calls));
    });
  }
});

describe("the failover controller's webhook configurations, owned by each member's hub webhook policy", () => {
  const creds = () =>
    Promise.resolve({
      data: { username: Buffer.from('u').toString('base64'), password: Buffer.from('p').toString('base64') },
    });
  const configPath = `/mutatingwebhookconfigurations/${failoverWebhookName('shop', 'db')}`;

  it('an opted-in backup is checked again without an event, so a configuration deleted in a member comes back', async () => {
    const { c } = setup(creds);
    assert.deepEqual(await c.reconcile('shop/db'), { requeueAfterMs: 60_000 });
  });

  it('one made before owners were set (same webhooks) is replaced with its owner', async () => {
    const ours = failoverWebhookConfiguration({
      backup,
      cluster: 'member2',
      endpoint: { url: 'https://hub.example:9443', caBundle: 'Y2E=' },
      owner: hubWebhookOwner('policy-uid'),
    });
    const old = { ...ours, metadata: { ...ours.metadata, ownerReferences: undefined, resourceVersion: '7' } };
    const { c, calls } = setup(creds, { [configPath]: old });
    await c.reconcile('shop/db');
    const put = calls.find((x) => x.method === 'PUT' && x.path.endsWith(configPath));
    const meta = (
      put?.body as { metadata: { ownerReferences?: { uid: string }[]; resourceVersion?: string } }
    )?.metadata;
    assert.deepEqual(
      meta?.ownerReferences?.map((o) => o.uid),
      ['policy-uid'],
      JSON.stringify(calls),
    );
    assert.equal(meta?.resourceVersion, '7', 'with the version read');
  });

  it('a member without the policy: no configuration there, a FailoverWebhooks condition False and one Warning', async () => {
    const notFound = () => Promise.reject(Object.assign(new Error('not found'), { statusCode: 404 }));
    const { c, calls, events } = setup(creds, {}, notFound);
    const r = await c.reconcile('shop/db');
    assert.ok(!webhookCreated(calls), 'nothing made in member2');
    assert.deepEqual(r, { requeueAfterMs: 30_000 });
    assert.deepEqual(
      events.map(([t, reason]) => [t, reason]),
      [['Warning', 'HubWebhookPolicyMissing']],
    );
    assert.match(events[0]![2], /no failover webhook in member2: .*install the chart/);
    const put = calls.findLast((x) => x.method === 'PUT' && x.path.endsWith('/checkpointbackups/db/status'));
    const cond = (put?.body as CheckpointBackup | undefined)?.status?.conditions?.find(
      (x) => x.type === 'FailoverWebhooks',
    );
    assert.deepEqual([cond?.status, cond?.reason], ['False', 'HubWebhookPolicyMissing']);
  });
});
