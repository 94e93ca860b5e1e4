import {
  API_GROUP,
  API_VERSION,
  PLURAL,
  setCondition,
  type CheckpointBackup,
  type CheckpointBackupStatus,
} from '@stateful-migration/api';
import { writeStatus, type EventRecorder, type RestClient } from '@stateful-migration/kube';

/** Why a condition is what it is. */
export interface ConditionCause {
  reason: string;
  message: string;
}

/**
 * Writes a condition of a CheckpointBackup that the hub keeps beside the agents' status (failover's pull secret and
 * webhooks, the keep-state webhooks): False with the problem, and a Warning Event when it becomes so; True otherwise.
 * Written only when it changes, so a problem that lasts is said once. `onlyAfterFalse`: True is written only over a
 * False, for a condition most backups never need.
 */
export async function writeBackupCondition(
  o: { client: RestClient; events: EventRecorder },
  b: CheckpointBackup,
  type: string,
  problem: ConditionCause | undefined,
  ok: ConditionCause,
  opts: { writeTrue?: 'onlyAfterFalse' } = {},
): Promise<void> {
  const cond = {
    type,
    status: problem ? ('False' as const) : ('True' as const),
    reason: (problem ?? ok).reason,
    message: (problem ?? ok).message,
  };
  const had = b.status?.conditions?.find((c) => c.type === cond.type);
  if (!problem && opts.writeTrue === 'onlyAfterFalse' && had?.status !== 'False') return;
  if (had && had.status === cond.status && had.reason === cond.reason && had.message === cond.message) return;
  const stored = await writeStatus<CheckpointBackup, CheckpointBackupStatus>(
    o.client,
    `/apis/${API_GROUP}/v1/namespaces/${b.metadata.namespace}/${PLURAL}/${b.metadata.name}`,
    (cur) => {
      if (cur.metadata.uid !== b.metadata.uid) return undefined;
      return { ...(cur.status ?? {}), conditions: setCondition(cur.status?.conditions, cond) };
    },
    { current: b },
  );
  if (problem) o.events.emit({ ...stored, apiVersion: API_VERSION }, 'Warning', cond.reason, cond.message);
}
