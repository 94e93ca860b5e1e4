import { setImmediate } from 'node:timers/promises';
import { rootLogger } from '@stateful-migration/kube';
import type { MemoryApi } from '@stateful-migration/kube/testing';
import { hubControllers, type Hub } from './main.js';
import { HubMetrics } from './metrics.js';

/**
 * The hub's controllers over an apiserver in memory, caches synced, the backups queue started with a reconcile that
 * only records the keys it is given: what an event queues, without what reconciling them would write. `queued`
 * starts empty (the start's own keys are dropped), and `stop` ends the caches and the queue.
 */
export async function hubRecordingBackupKeys(
  api: MemoryApi,
): Promise<{ hub: Hub; queued: string[]; stop: () => void }> {
  const queued: string[] = [];
  const hub = hubControllers({
    client: api.client(),
    log: rootLogger('test', 'silent'),
    metrics: new HubMetrics(),
    identity: 'hub-0',
  });
  await hub.caches.start();
  hub.backups.queue.start(async (k) => void queued.push(k));
  await setImmediate();
  queued.length = 0;
  api.resetCalls();
  return {
    hub,
    queued,
    stop: () => {
      hub.caches.stop();
      hub.backups.queue.stop();
    },
  };
}
