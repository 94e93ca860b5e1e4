/**
 * The eviction gate: what the member's admission webhook answers when someone (`kubectl drain`, the cluster
 * autoscaler, a descheduler) asks the Eviction API to evict a pod whose CheckpointBackup opts in to keeping its state
 * on eviction. The answer follows the Eviction API's own retry contract, the one a PodDisruptionBudget uses: "not
 * yet" is HTTP 429, and every client that evicts (kubectl drain included) waits and asks again. Pure: the shell reads
 * the pod, its backups and its drain checkpoint, and carries out the verdict.
 *
 * A drain checkpoint is a member-local CheckpointBackup (schedule "immediately") the gate creates for the pod: the
 * node's agent takes and pushes it like any other backup, and the replacement pod restores from it
 * (replacement.ts). Its status is the whole record: a restarted webhook reads it and answers the same.
 */

export interface EvictedPod {
  namespace: string;
  name: string;
  uid: string;
  phase?: string;
  nodeName?: string;
  /** metadata.deletionTimestamp is set: already going, nothing to save. */
  deleting: boolean;
}

/** What the pod's CheckpointBackup says about eviction (spec.keepState.eviction), if it opts in. */
export interface EvictionOptIn {
  backup: string;
  /** How long an eviction waits for the checkpoint before it proceeds without one. */
  timeoutSeconds: number;
}

/** The drain checkpoint of one pod, as its CheckpointBackup's status tells it. */
export interface DrainCheckpoint {
  name: string;
  /** The uid of the pod it checkpoints: a new pod of the same name is another pod. */
  podUid: string;
  createdAt: string;
  phase?: string;
  message?: string;
  /** Images the agent pushed, by digest. */
  pushedImages: { containerName: string; image: string }[];
  containers: string[];
}

export type GateVerdict =
  /** Not ours to hold: the eviction goes ahead as if the webhook did not exist. */
  | { kind: 'allow'; reason: 'NotOptedIn' | 'NotRunning'; message: string }
  /** Create the drain checkpoint, then answer 429. */
  | { kind: 'start'; message: string; retryAfterSeconds: number }
  /** The checkpoint is under way: 429 again. */
  | { kind: 'wait'; message: string; retryAfterSeconds: number }
  /** Pushed: the eviction goes ahead and the replacement restores from it. */
  | { kind: 'allow'; reason: 'CheckpointPushed'; message: string }
  /** Failed or too slow: the eviction goes ahead without state, and a Warning Event says so. */
  | {
      kind: 'proceedWithout';
      reason: 'CheckpointFailed' | 'CheckpointTimedOut' | 'CheckpointStale' | 'CheckpointNameTaken';
      message: string;
    };

/**
 * How long past timeoutSeconds (counted from its creation) a pushed drain checkpoint still lets the eviction go:
 * several 5 s retries, for a client answered 429 at the end of the window. Beyond it the pod has run on after an
 * allowed eviction was refused by another admission step (a PodDisruptionBudget's 429): restoring its replacement
 * from that checkpoint would silently lose the work done since, so the eviction goes without state and says so.
 * Bounded by the user's own timeoutSeconds, not a fixed age: it is the wait they agreed an eviction may take.
 */
export const STALE_MARGIN_SECONDS = 60;

/** How soon a client should ask again; kubectl drain waits 5 s between attempts whatever the header says. */
export const RETRY_AFTER_SECONDS = 5;

/** The name of a pod's drain checkpoint: stable for one pod (its uid), within the 63 characters of a label value. */
export function drainCheckpointName(podName: string, podUid: string): string {
  const suffix = podUid.replace(/-/g, '').slice(0, 8);
  return `drain-${podName.slice(0, 63 - 'drain-'.length - 1 - suffix.length)}-${suffix}`;
}

export function evictionVerdict(
  pod: EvictedPod,
  optIn: EvictionOptIn | undefined,
  checkpoint: DrainCheckpoint | undefined,
  now: Date,
): GateVerdict {
  const who = `pod ${pod.namespace}/${pod.name}`;
  if (!optIn)
    return {
      kind: 'allow',
      reason: 'NotOptedIn',
      message: `${who}: no CheckpointBackup keeps its state on eviction`,
    };
  if (pod.deleting || pod.phase !== 'Running' || !pod.nodeName)
    return {
      kind: 'allow',
      reason: 'NotRunning',
      message: `${who} is ${pod.deleting ? 'already being deleted' : (pod.phase ?? 'not running')}: no process to checkpoint`,
    };
  const mine = checkpoint?.podUid === pod.uid ? checkpoint : undefined;
  if (!mine)
    return {
      kind: 'start',
      message: `${who}: taking a checkpoint before eviction (CheckpointBackup ${optIn.backup} keeps its state on eviction); the eviction waits up to ${optIn.timeoutSeconds}s for it to be pushed`,
      retryAfterSeconds: RETRY_AFTER_SECONDS,
    };
  const pushed = new Set(mine.pushedImages.map((i) => i.containerName));
  const age = Math.max(0, (now.getTime() - Date.parse(mine.createdAt)) / 1000);
  const complete =
    mine.phase === 'Completed' && mine.containers.length > 0 && mine.containers.every((c) => pushed.has(c));
  if (complete && !(age < optIn.timeoutSeconds + STALE_MARGIN_SECONDS))
    return {
      kind: 'proceedWithout',
      reason: 'CheckpointStale',
      message: `${who} evicted without its state: checkpoint ${mine.name} was pushed ${Math.round(age)}s ago, and the pod ran on since (an eviction allowed on it was refused by another admission step); its replacement starts fresh rather than from older state`,
    };
  if (complete)
    return {
      kind: 'allow',
      reason: 'CheckpointPushed',
      message: `${who}: checkpoint ${mine.name} pushed (${mine.pushedImages.map((i) => i.image).join(', ')}); its replacement restores from it`,
    };
  if (mine.phase === 'Failed')
    return {
      kind: 'proceedWithout',
      reason: 'CheckpointFailed',
      message: `${who} evicted without its state: checkpoint ${mine.name} failed: ${mine.message ?? 'no reason given'}`,
    };
  if (age >= optIn.timeoutSeconds)
    return {
      kind: 'proceedWithout',
      reason: 'CheckpointTimedOut',
      message: `${who} evicted without its state: checkpoint ${mine.name} was not pushed within ${optIn.timeoutSeconds}s (${mine.phase ?? 'not started'}${mine.message ? `: ${mine.message}` : ''})`,
    };
  return {
    kind: 'wait',
    message: `${who}: waiting for checkpoint ${mine.name} to be pushed (${mine.phase ?? 'not started'}, ${Math.round(age)}s of ${optIn.timeoutSeconds}s)`,
    retryAfterSeconds: RETRY_AFTER_SECONDS,
  };
}
