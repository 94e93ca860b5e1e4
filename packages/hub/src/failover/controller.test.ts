import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import type { EventRecorder, RestClient } from '@stateful-migration/kube';
import type { HubCaches } from '../caches.js';
import { FailoverController } from './controller.js';
import { optedIn, quiet } from './fixtures.test-support.js';
import type { FailoverRecorder } from './record.js';

const backup = optedIn({ secretRef: { name: 'reg-creds' } });

/** A hub with one Ready member and the given answer for the backup's registry secret. */
function setup(secret: () => Promise<unknown>) {
  const calls: { method: string; path: string; body?: unknown }[] = [];
  const events: [string, string, string][] = [];
  const notFound = () => Promise.reject(Object.assign(new Error('not found'), { statusCode: 404 }));
  const client = {
    get: (path: string) => {
      calls.push({ method: 'GET', path });
      if (path === '/api/v1/namespaces/shop/secrets/reg-creds') return secret();
      if (path.endsWith('/checkpointbackups/db')) return Promise.resolve(backup);
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
});
