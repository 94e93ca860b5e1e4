import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { rootLogger } from '@stateful-migration/kube';
import { MemoryApi } from '@stateful-migration/kube/testing';
import type { HubCaches } from '../caches.js';
import { DrainWebhooks } from './webhooks.js';

type Handler = (e: string, obj: unknown, old?: unknown) => void;

/** Caches whose handlers the test calls itself: two member clusters, and the backup events it sends. */
function shell() {
  const handlers: Record<'backups' | 'clusters', Handler[]> = { backups: [], clusters: [] };
  const informer = (which: 'backups' | 'clusters', list: () => unknown[]) => ({
    on: (h: Handler) => handlers[which].push(h),
    list,
  });
  const caches = {
    backups: informer('backups', () => []),
    clusters: informer('clusters', () => [
      { metadata: { name: 'member1' } },
      { metadata: { name: 'member2' } },
    ]),
  } as unknown as HubCaches;
  const webhooks = new DrainWebhooks({
    client: new MemoryApi().client(),
    caches,
    endpoint: { url: 'https://hub.example:8443', caBundle: 'PEM' },
    log: rootLogger('test', 'silent'),
  });
  return {
    webhooks,
    backupEvent: (e: string, b: unknown, old?: unknown) => handlers.backups.forEach((h) => h(e, b, old)),
  };
}

const backup = (keepState?: CheckpointBackup['spec']['keepState']): CheckpointBackup => ({
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointBackup',
  metadata: { name: 'web', namespace: 'shop' },
  spec: {
    schedule: 'immediately',
    resourceRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
    ...(keepState ? { keepState } : {}),
  },
});

describe('DrainWebhooks: which backup events reach its queue', () => {
  it('a backup that keeps state on eviction, before or after the change, queues every cluster', () => {
    for (const [b, old] of [
      [backup({ eviction: {} }), undefined],
      [backup(), backup({ eviction: {} })],
      [backup({ eviction: {} }), backup()],
    ] as const) {
      const { webhooks, backupEvent } = shell();
      backupEvent('update', b, old);
      assert.equal(webhooks.queue.depth(), 2);
    }
  });

  it('any other backup event queues nothing: it cannot change a configuration (issue 12: it cost every cluster a pass over every backup)', () => {
    const { webhooks, backupEvent } = shell();
    backupEvent('add', backup());
    backupEvent('update', backup({ clusterFailover: {} }), backup());
    backupEvent('delete', backup());
    assert.equal(webhooks.queue.depth(), 0);
  });
});
