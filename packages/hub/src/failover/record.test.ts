import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHECKPOINT_RESTORE_LABEL } from '@stateful-migration/api';
import type { EventRecorder, RestClient } from '@stateful-migration/kube';
import type { ResourceBinding } from '../karmada.js';
import { optedIn, quiet } from './fixtures.test-support.js';
import { FailoverRecorder } from './record.js';

const NOW = new Date('2026-12-01T12:00:00Z');
const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString();
const backup = optedIn(
  {},
  {
    clusters: [
      {
        name: 'member1',
        phase: 'Unknown',
        applied: true,
        replicas: [0, 1].map((o) => ({
          pod: `db-${o}`,
          backup: `db-db-${o}`,
          ordinal: o,
          phase: 'Completed',
          present: true,
          lastCheckpointTime: ago(40),
          images: [
            {
              containerName: 'counter',
              imageName: `reg/shop/cp/c-${o}:r1`,
              digest: `sha256:${o}`,
              buildTime: ago(30),
              pushed: true,
            },
          ],
        })),
      },
    ],
  },
);

const binding = {
  metadata: { name: 'db-statefulset', namespace: 'shop', generation: 2 },
  spec: {
    resource: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', namespace: 'shop' },
    clusters: [
      { name: 'member2', replicas: 1 },
      { name: 'member3', replicas: 2 },
    ],
    gracefulEvictionTasks: [
      {
        fromCluster: 'member1',
        reason: 'TaintUntolerated',
        producer: 'TaintManager',
        creationTimestamp: ago(20),
      },
    ],
  },
  status: { schedulerObservedGeneration: 2 },
} as unknown as ResourceBinding;

describe('the webhook path decides within its time budget', () => {
  it(
    'reads the targets’ Nodes at once and, past the budget, records the slow one TargetNodesUnknown instead of outliving the webhook timeout',
    { timeout: 20_000 },
    async () => {
      const asked: string[] = [];
      const nodeView = {
        metadata: { name: 'n', labels: { [CHECKPOINT_RESTORE_LABEL]: 'checkpoint_restore' } },
        spec: {},
        status: { conditions: [{ type: 'Ready', status: 'True' }] },
      };
      const client = {
        get: (path: string) => {
          asked.push(path);
          // member3's cluster proxy never answers (a slow or half-dead member); member2 answers once both were asked.
          if (path.includes('/member3/')) return new Promise(() => {});
          return new Promise((resolve, reject) => {
            const check = () => (asked.length >= 2 ? resolve({ items: [nodeView] }) : setTimeout(check, 5));
            check();
            setTimeout(
              () => reject(new Error('member3 was never asked while member2 was read')),
              5000,
            ).unref();
          });
        },
        request: async (_m: string, _p: string, o: { body: unknown }) => o.body,
      } as unknown as RestClient;
      const events = { emit: async () => {} } as unknown as EventRecorder;
      const recorder = new FailoverRecorder({
        client,
        events,
        log: quiet,
        now: () => NOW,
        nodesBudgetMs: 200,
      });
      const r = await recorder.record(backup, binding, new Set(['member2', 'member3']));
      assert.ok(r);
      assert.deepEqual(
        r.replicas.map((x) => [x.pod, x.toCluster, x.images ? 'restored' : x.reason]),
        [
          ['db-0', 'member2', 'restored'],
          ['db-1', 'member3', 'TargetNodesUnknown'],
        ],
      );
      assert.equal(asked.filter((p) => p.endsWith('/api/v1/nodes')).length, 2);
    },
  );
});
