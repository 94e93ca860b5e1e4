import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { age, renderTable, renderWorkloads, statusRows, workloadRows } from './status.js';

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

describe('status view per workload (issue 16): where it runs, its last checkpoint, its last failover', () => {
  const NOW = new Date('2026-12-01T12:00:00Z');
  const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString();
  const workload = (
    name: string,
    over: Partial<CheckpointBackup['spec']>,
    status?: CheckpointBackup['status'],
  ) => {
    const b = backup(name, status);
    delete b.spec.podRef;
    b.spec = {
      ...b.spec,
      schedule: '* * * * *',
      resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name },
      ...over,
    };
    return b;
  };
  const present = (pod: string, on = true) => ({
    pod,
    backup: `x-${pod}`,
    phase: 'Completed' as const,
    present: on,
  });
  const moved = workload(
    'db',
    { keepState: { clusterFailover: { maxAgeSeconds: 600 }, eviction: {} } },
    {
      placement: { clusters: ['member2'], by: 'workload' },
      lastCheckpointTime: ago(42),
      clusters: [
        { name: 'member1', phase: 'Unknown', applied: true, replicas: [present('db-0'), present('db-1')] },
        {
          name: 'member2',
          phase: 'Completed',
          applied: true,
          replicas: [present('db-0'), present('db-1'), present('old', false)],
        },
      ],
      lastFailover: {
        time: ago(300),
        decidedAt: ago(299),
        fromClusters: ['member1'],
        toClusters: ['member2'],
        replicas: [
          {
            pod: 'db-0',
            fromCluster: 'member1',
            backup: 'x',
            toCluster: 'member2',
            images: [],
            stateAgeSeconds: 40,
          },
          {
            pod: 'db-1',
            fromCluster: 'member1',
            backup: 'x',
            toCluster: 'member2',
            reason: 'TooOld',
            message: 'm',
          },
        ],
        restored: 1,
        startedFresh: 1,
        stateAgeSeconds: 40,
        message: 'm',
      },
    },
  );
  const spread = workload(
    'web',
    {},
    {
      clusters: [
        { name: 'member1', phase: 'Unknown', applied: true, replicas: [present('web-a')] },
        { name: 'member2', phase: 'Completed', applied: true },
      ],
    },
  );

  it('one row per workload-level backup, single-pod ones left to the table above', () => {
    const rows = workloadRows([spread, backup('single'), moved]);
    assert.deepEqual(
      rows.map((r) => [
        r.name,
        r.workload,
        r.runsIn,
        r.lastCheckpointTime ?? '-',
        r.keepState,
        r.lastFailover?.toClusters,
      ]),
      [
        ['db', 'StatefulSet/db', 'member2 (2 pods)', ago(42), 'failover<=600s, drain<=120s', ['member2']],
        // Without a placement yet: every cluster in status, the unreachable one said so.
        ['web', 'StatefulSet/web', 'member1 (1 pod, unreachable), member2 (0 pods)', '-', '-', undefined],
      ],
    );
  });

  it('an eviction not treated as a failover (NotAClusterFailure) says so, not "0/0 restored"', () => {
    const evicted = workload(
      'db',
      { keepState: { clusterFailover: { maxAgeSeconds: 600 } } },
      {
        lastFailover: {
          time: ago(300),
          decidedAt: ago(299),
          fromClusters: [],
          notLostClusters: ['member1'],
          toClusters: ['member2'],
          reason: 'NotAClusterFailure',
          replicas: [],
          restored: 0,
          startedFresh: 0,
          message: 'm',
        },
      },
    );
    const out = renderWorkloads(workloadRows([evicted]), NOW).split('\n');
    assert.match(out[1]!, /5m ago member1 evicted, not a failover \(NotAClusterFailure\)$/);
  });

  it('renders ages as kubectl does and the last failover in one cell', () => {
    const out = renderWorkloads(workloadRows([moved, spread]), NOW).split('\n');
    assert.match(out[0]!, /^NAME\s+WORKLOAD\s+RUNS IN\s+LAST CHECKPOINT\s+KEEP STATE\s+LAST FAILOVER$/);
    assert.match(
      out[1]!,
      /^db\s+StatefulSet\/db\s+member2 \(2 pods\)\s+42s ago\s+failover<=600s, drain<=120s\s+5m ago member1 -> member2: 1\/2 restored \(state 40s old\), 1 fresh$/,
    );
    assert.match(out[2]!, /^web\s+.*\s+-\s+-\s+-$/);
    assert.equal(out[1]!.indexOf('member2 (2'), out[0]!.indexOf('RUNS IN'));
    assert.equal(renderWorkloads(workloadRows([backup('single')]), NOW), '');
  });

  it('ages: seconds to two minutes, minutes to two hours, hours to two days, then days; never negative', () => {
    assert.deepEqual(
      [5, 119, 120, 7199, 7200, 172799, 172800].map((s) => age(ago(s), NOW)),
      ['5s', '119s', '2m', '119m', '2h', '47h', '2d'],
    );
    assert.equal(age(new Date(NOW.getTime() + 5000).toISOString(), NOW), '0s');
    assert.equal(age('not a time', NOW), '?');
  });
});
