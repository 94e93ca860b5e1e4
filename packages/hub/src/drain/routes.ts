import { DRAIN_PODS_ROUTE, EVICT_ROUTE, type Endpoint } from '@stateful-migration/drain';
import { EventRecorder, type Logger, type RestClient } from '@stateful-migration/kube';
import type { AdmissionHandler } from '@stateful-migration/restore';
import type { HubCaches } from '../caches.js';
import { EvictionGate } from './gate.js';
import { DrainReplacements } from './replacement.js';
import { DrainWebhooks } from './webhooks.js';

/**
 * "Keep state on eviction" in the hub (docs/adr/0004): the two routes of its admission server, on every replica (they
 * answer from the caches and from objects on the Karmada control plane, so any replica answers the same), and the
 * configurations that send the members' calls to them, kept by the leader.
 */
export function keepStateRoutes(o: {
  client: RestClient;
  caches: HubCaches;
  log: Logger;
}): Record<string, AdmissionHandler> {
  const log = o.log.child({ controller: 'keep-state' });
  const events = new EventRecorder(o.client, 'stateful-migration-hub', undefined, log);
  const gate = new EvictionGate({ ...o, events, log });
  const replacements = new DrainReplacements({ ...o, events, log });
  return {
    // The gate answers "not yet" with allowed: false and the Eviction API's 429, which the server sends on as it is
    // (its handler type names only the allowed answers of the pod routes; the server passes any answer through).
    [EVICT_ROUTE]: gate.handle as unknown as AdmissionHandler,
    [DRAIN_PODS_ROUTE]: replacements.handle,
  };
}

export function keepStateWebhooks(o: {
  client: RestClient;
  caches: HubCaches;
  endpoint: Endpoint;
  log: Logger;
}): DrainWebhooks {
  const log = o.log.child({ controller: 'keep-state-webhooks' });
  return new DrainWebhooks({
    ...o,
    events: new EventRecorder(o.client, 'stateful-migration-hub', undefined, log),
    log,
  });
}
