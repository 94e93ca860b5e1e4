import { setCondition, type CheckpointBackupStatus, type Refusal } from '@stateful-migration/api';

/**
 * The status of an object the hub refuses (issue 11): Failed with the refusal's message, placed nowhere (the hub
 * withdraws it from every member), conditions Propagated and Completed False with the refusal's reason. The same
 * refusal again yields the same status, so nothing is written twice.
 */
export function refusedStatus(
  s: CheckpointBackupStatus,
  generation: number,
  r: Refusal,
  now: Date = new Date(),
): CheckpointBackupStatus {
  const condition = (type: string) => ({
    type,
    status: 'False' as const,
    reason: r.reason,
    message: r.message,
    observedGeneration: generation,
  });
  const conditions = setCondition(
    setCondition(s.conditions, condition('Propagated'), now),
    condition('Completed'),
    now,
  );
  return {
    phase: 'Failed',
    message: r.message,
    observedGeneration: generation,
    clusters: [],
    clustersReady: '0/0',
    conditions,
  };
}
