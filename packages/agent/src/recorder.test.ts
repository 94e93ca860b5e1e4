import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { EventRecorder } from '@stateful-migration/kube';
import { MemoryApi } from '@stateful-migration/kube/testing';
import { quietLog } from './fake-api.test-support.js';
import { AgentMetrics } from './metrics.js';
import { RunRecorder } from './recorder.js';

// The recorder's writes against an apiserver in memory, where a 409 makes it read the object and decide again.

const PATH = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups/web';

const recorder = (api: MemoryApi, node: string) =>
  new RunRecorder({
    node,
    client: api.client(),
    events: new EventRecorder(api.client(), 'checkpoint-agent', node, quietLog()),
    metrics: new AgentMetrics(),
    maxAttempts: 3,
  });

describe('RunRecorder.fail', () => {
  it("a PodNotFound seen on a stale copy never ends the run the pod's node started meanwhile (the 409's re-read)", async () => {
    const api = new MemoryApi();
    api.put(PATH, {
      apiVersion: 'migration.dcnlab.com/v1',
      kind: 'CheckpointBackup',
      metadata: { name: 'web', namespace: 'shop', generation: 1 },
      spec: { schedule: 'immediately', podRef: { name: 'web-0' } },
    });
    // The agent that answers for pods on no node read the object, and the pod was not there yet.
    const stale = api.object<CheckpointBackup>(PATH)!;
    // Meanwhile the pod ran on n1 and n1's agent started its run.
    api.put(PATH, {
      ...stale,
      status: {
        phase: 'Checkpointing',
        observedGeneration: 1,
        run: {
          id: 'r1',
          startedAt: new Date().toISOString(),
          generation: 1,
          node: 'n1',
          containers: ['app'],
          failures: 0,
        },
      },
    });
    await recorder(api, 'n0').fail(
      stale,
      'PodNotFound',
      'pod shop/web-0 does not exist in this cluster',
      true,
    );
    const s = api.object<CheckpointBackup>(PATH)!.status!;
    assert.equal(s.phase, 'Checkpointing');
    assert.equal(s.run?.failures, 0);
    assert.deepEqual(api.events(), []);
  });
});
