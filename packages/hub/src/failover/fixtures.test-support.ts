import type { CheckpointBackup } from '@stateful-migration/api';
import type { Logger } from '@stateful-migration/kube';

/** A logger that says nothing (the shells' tests assert what they write, not what they log). */
export const quiet = {
  info: () => {},
  warn: () => {},
  error: () => {},
  debug: () => {},
} as unknown as Logger;

/** shop/db, a StatefulSet's opted-in workload-level backup, with the given registry and status. */
export function optedIn(registry: Record<string, unknown>, status: unknown = {}): CheckpointBackup {
  return {
    apiVersion: 'migration.dcnlab.com/v1',
    kind: 'CheckpointBackup',
    metadata: { name: 'db', namespace: 'shop', uid: 'u1', resourceVersion: '1' },
    spec: {
      schedule: '* * * * *',
      resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
      registry: { url: 'reg', repository: 'shop/cp', ...registry },
      keepState: { clusterFailover: { maxAgeSeconds: 300 } },
    },
    status,
  } as unknown as CheckpointBackup;
}
