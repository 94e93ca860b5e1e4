import { EventRecorder, type Logger, type RestClient } from '@stateful-migration/kube';
import type { WebhookEndpoint } from '@stateful-migration/restore';
import type { HubCaches } from '../caches.js';
import { FailoverController } from './controller.js';
import { FailoverPods } from './pods.js';
import { FailoverRecorder } from './record.js';
import { FAILOVER_ROUTE } from './webhook.js';

/**
 * Failover with state in the hub (docs/adr/0004): the webhook route (on every replica, from the shared caches) and
 * the controller (on the leader), over one recorder so that whichever decides a move first records it.
 */
export function failoverParts(o: {
  client: RestClient;
  caches: HubCaches;
  log: Logger;
  identity: string;
  leading: () => boolean;
}): {
  routes: Record<string, FailoverPods['handle']>;
  controller: (endpoint: WebhookEndpoint) => FailoverController;
} {
  const events = new EventRecorder(o.client, 'stateful-migration-hub', o.identity, o.log);
  const recorder = new FailoverRecorder({ client: o.client, events, log: o.log });
  const pods = new FailoverPods({ ...o, recorder });
  return {
    routes: { [FAILOVER_ROUTE]: pods.handle },
    controller: (endpoint) => new FailoverController({ ...o, recorder, events, endpoint }),
  };
}
