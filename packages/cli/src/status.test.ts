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
  it('shows a row for an object not placed yet', () => {
    const rows = statusRows([backup('new')]);
    assert.deepEqual([rows[0]!.cluster, rows[0]!.phase], ['-', 'Pending']);
  });
  it('aligns columns under kubectl-style headers', () => {
    const out = renderTable(statusRows([backup('a', { phase: 'Failed', message: 'x' })])).split('\n');
    assert.match(
      out[0]!,
      /^NAME\s+CLUSTER\s+NODE\s+POD\s+CONTAINER\s+PHASE\s+IMAGE\s+PUSHED\s+LAST CHECKPOINT$/,
    );
    assert.equal(out[1]!.indexOf('web-1'), out[0]!.indexOf('POD'));
    assert.equal(renderTable([]), 'No CheckpointBackups found.\n');
  });
});
