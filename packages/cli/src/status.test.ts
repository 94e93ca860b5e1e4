import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { renderTable, statusRows } from './status.js';

const backup = (name: string, status?: CheckpointBackup['status']): CheckpointBackup => ({
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointBackup',
  metadata: { name, namespace: 'shop' },
  spec: {
    schedule: 'immediately',
    podRef: { name: 'web-1' },
    resourceRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
  },
  ...(status ? { status } : {}),
});

describe('status view', () => {
  it('shows one row per cluster and container, with the newest image of each', () => {
    const rows = statusRows([
      backup('db', {
        phase: 'Unknown',
        clusters: [
          {
            name: 'member1',
            phase: 'Completed',
            applied: true,
            node: 'm1-a',
            lastCheckpointTime: '2026-11-27T09:00:00Z',
            builtImages: [
              { containerName: 'app', imageName: 'r/app:1', buildTime: 't', pushed: true },
              { containerName: 'app', imageName: 'r/app:2', buildTime: 't', pushed: true },
              { containerName: 'side', imageName: 'localhost/side:2', buildTime: 't', pushed: false },
              {
                containerName: 'vault',
                imageName: 'r/vault:2',
                buildTime: 't',
                pushed: true,
                digest: 'sha256:1',
                encryptedFor: ['sha256:k'],
              },
            ],
          },
          { name: 'member2', phase: 'Unknown', applied: true },
        ],
      }),
    ]);
    assert.deepEqual(
      rows.map((r) => [r.cluster, r.node, r.container, r.phase, r.image, r.pushed]),
      [
        ['member1', 'm1-a', 'app', 'Completed', 'r/app:2', 'yes'],
        ['member1', 'm1-a', 'side', 'Completed', 'localhost/side:2', 'no'],
        ['member1', 'm1-a', 'vault', 'Completed', 'r/vault:2', 'encrypted'],
        ['member2', '-', '-', 'Unknown', '-', '-'],
      ],
    );
  });
  it('shows a workload-level object as its replicas per cluster, gone pods marked', () => {
    const b = backup('db', {
      phase: 'Completed',
      clusters: [
        {
          name: 'member1',
          phase: 'Completed',
          applied: true,
          replicas: [
            {
              pod: 'db-0',
              backup: 'db-db-0',
              ordinal: 0,
              node: 'm1-a',
              phase: 'Completed',
              present: true,
              lastCheckpointTime: 't0',
              images: [{ containerName: 'app', imageName: 'r/db-0:1', buildTime: 't', pushed: true }],
            },
            { pod: 'db-1', backup: 'db-db-1', ordinal: 1, node: 'm1-b', phase: 'Pending', present: true },
            { pod: 'db-2', backup: 'db-db-2', ordinal: 2, phase: 'Completed', present: false },
          ],
        },
        { name: 'member2', phase: 'Pending', applied: false },
      ],
    });
    delete b.spec.podRef;
    b.spec.resourceRef = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' };
    assert.deepEqual(
      statusRows([b]).map((r) => [
        r.workload,
        r.cluster,
        r.node,
        r.pod,
        r.container,
        r.phase,
        r.image,
        r.lastCheckpoint,
      ]),
      [
        ['StatefulSet/db', 'member1', 'm1-a', 'db-0', 'app', 'Completed', 'r/db-0:1', 't0'],
        ['StatefulSet/db', 'member1', 'm1-b', 'db-1', '-', 'Pending', '-', '-'],
        ['StatefulSet/db', 'member1', '-', 'db-2', '-', 'Completed (pod gone)', '-', '-'],
        ['StatefulSet/db', 'member2', '-', '-', '-', 'Pending', '-', '-'],
      ],
    );
    delete b.status;
    assert.deepEqual([statusRows([b])[0]!.pod, statusRows([b])[0]!.phase], ['*', 'Pending']);
  });
  it('shows a row for an object not placed yet', () => {
    const rows = statusRows([backup('new')]);
    assert.deepEqual([rows[0]!.cluster, rows[0]!.phase], ['-', 'Pending']);
  });
  it('aligns columns under kubectl-style headers', () => {
    const out = renderTable(statusRows([backup('a', { phase: 'Failed', message: 'x' })])).split('\n');
    assert.match(
      out[0]!,
      /^NAME\s+WORKLOAD\s+CLUSTER\s+NODE\s+POD\s+CONTAINER\s+PHASE\s+IMAGE\s+PUSHED\s+LAST CHECKPOINT$/,
    );
    assert.equal(out[1]!.indexOf('web-1'), out[0]!.indexOf('POD'));
    assert.equal(renderTable([]), 'No CheckpointBackups found.\n');
  });
});
