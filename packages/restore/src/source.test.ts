import assert from 'node:assert/strict';
import { it } from 'node:test';
import { backup, img, pod } from './fixtures.test-support.js';
import { backupClusters } from './source.js';

it("reads the hub's status.clusters when the hub wrote them", () => {
  const b = backup();
  const clusters = [
    { name: 'member1', phase: 'Completed', builtImages: [img('app', 't1')], checkpointedPod: pod() },
  ];
  (b as { status?: unknown }).status = { clusters };
  assert.deepEqual(backupClusters(b, { status: { aggregatedStatus: [{ clusterName: 'other' }] } }), clusters);
});

it("otherwise reads the ResourceBinding's aggregatedStatus, keeping only what restore needs", () => {
  const got = backupClusters(backup(), {
    status: {
      aggregatedStatus: [
        {
          clusterName: 'member1',
          status: {
            phase: 'Completed',
            message: 'ok',
            lastCheckpointTime: 't',
            builtImages: [img('app', 't1')],
            checkpointedPod: pod(),
            checkpointFiles: [],
          },
        },
        { clusterName: 'member2' },
      ],
    },
  });
  assert.deepEqual(got, [
    {
      name: 'member1',
      phase: 'Completed',
      message: 'ok',
      lastCheckpointTime: 't',
      builtImages: [img('app', 't1')],
      checkpointedPod: pod(),
    },
    { name: 'member2' },
  ]);
  assert.deepEqual(backupClusters(backup()), []);
});
