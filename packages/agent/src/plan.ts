import {
  isFinished,
  isTimeZone,
  nextTick,
  parseSchedule,
  refusal,
  type BuiltImage,
  type CheckpointBackup,
  type CheckpointFile,
  type Schedule,
  type CheckpointBackupStatus,
  setCondition,
  podName,
  podNamespace,
} from '@stateful-migration/api';
import { encryptionRefusal } from './encryption.js';
import type { PodDeletion } from './stop-pod.js';

/** What the agent knows of the pod, read from the apiserver (not a cache, so "missing" is real). */
export interface PodView {
  name: string;
  namespace: string;
  uid?: string;
  nodeName?: string;
  containers: { name: string; image: string }[];
  deleting: boolean;
}

export interface PlanInput {
  backup: CheckpointBackup;
  /** This agent's node. */
  node: string;
  pod: PodView | undefined;
  /** Whether this agent answers for pods that are on no node (one agent per cluster does). */
  reportsOrphans: boolean;
  now: Date;
  archiveExists: (path: string) => boolean;
  /**
   * Why a recorded archive path may not be used (confine.ts: outside the checkpoint directory, also through a
   * symlink), or undefined. Status is written by more than this agent; a path it names is never read or deleted
   * unless it passes. @default every path passes
   */
  refusedArchive?: (path: string) => string | undefined;
  /** Failed attempts of an "immediately" run before it stays Failed. */
  maxAttempts: number;
  /** The registry hosts the platform's default secret is for (--default-secret-registries). */
  defaultSecretRegistries: readonly string[];
}

export type Action =
  /** Another node's work, or nothing of ours. */
  | { kind: 'ignore' }
  /** Nothing due; come back at `at` (the next tick) if given. Record nextScheduledTime when it differs. */
  | { kind: 'wait'; next?: Date }
  /** The object cannot run as it is: say why. `retryAfterFailure` tells whether a later attempt may succeed. */
  | { kind: 'fail'; reason: string; message: string; retry: boolean }
  /** Begin a new run. */
  | { kind: 'start'; containers: string[]; tick?: Date; next?: Date }
  /** These containers of the current run need an archive (none yet, or it vanished before its image was built). */
  | { kind: 'checkpoint'; containers: string[] }
  /** Build images from these archives. */
  | { kind: 'build'; files: CheckpointFile[] }
  /** Push these built images. */
  | { kind: 'push'; images: BuiltImage[] }
  /** Everything built (and pushed): delete the archives, stop the pod if asked, complete. */
  | { kind: 'finish' };

/** A run recorded and not finished. */
const runInProgress = (s: CheckpointBackupStatus | undefined): boolean =>
  !!s?.run && s.phase !== undefined && !isFinished(s.phase);

const inProgress = (b: CheckpointBackup): boolean => runInProgress(b.status);

/** Images of the current run: their tag is the run id. */
export function runImages(b: CheckpointBackup): BuiltImage[] {
  const id = b.status?.run?.id;
  return (b.status?.builtImages ?? []).filter((i) => id && i.imageName.endsWith(`:${id}`));
}

function chooseContainers(b: CheckpointBackup, pod: PodView): { names: string[] } | { missing: string[] } {
  const wanted = (b.spec.containers ?? []).map((c) => c.name);
  if (wanted.length === 0) return { names: pod.containers.map((c) => c.name) };
  const have = new Set(pod.containers.map((c) => c.name));
  const missing = wanted.filter((n) => !have.has(n));
  return missing.length ? { missing } : { names: wanted };
}

/** A path for a message: quoted, and cut if someone wrote a long one into status. */
export const quote = (p: string): string => JSON.stringify(p.length > 300 ? `${p.slice(0, 300)}...` : p);

/** The run's recorded archives that may not be used, as a failure naming the first; none: undefined. */
function refusedFiles(b: CheckpointBackup, refused: PlanInput['refusedArchive']): Action | undefined {
  const run = b.status!.run!;
  for (const f of b.status?.checkpointFiles ?? []) {
    const why = run.containers.includes(f.containerName) ? refused?.(f.filePath) : undefined;
    if (why)
      return {
        kind: 'fail',
        reason: 'ArchiveOutsideCheckpointDir',
        message: `status.checkpointFiles names archive ${quote(f.filePath)} for container ${f.containerName}, which ${why}: refused: not read, built, pushed or deleted; the next run takes a new checkpoint`,
        // A new run starts with no recorded archives, so a retry is a fresh checkpoint.
        retry: true,
      };
  }
  return undefined;
}

/** Continue the run in progress from what status records. */
function resume(
  b: CheckpointBackup,
  archiveExists: (p: string) => boolean,
  refused?: PlanInput['refusedArchive'],
): Action {
  const run = b.status!.run!;
  const refusal = refusedFiles(b, refused);
  if (refusal) return refusal;
  const images = runImages(b);
  const built = new Set(images.map((i) => i.containerName));
  const files = b.status?.checkpointFiles ?? [];
  const needArchive = run.containers.filter((c) => {
    if (built.has(c)) return false;
    const f = files.find((x) => x.containerName === c);
    return !f || !archiveExists(f.filePath);
  });
  if (needArchive.length) return { kind: 'checkpoint', containers: needArchive };
  const toBuild = files.filter(
    (f) => run.containers.includes(f.containerName) && !built.has(f.containerName),
  );
  if (toBuild.length) return { kind: 'build', files: toBuild };
  const toPush = b.spec.registry ? images.filter((i) => !i.pushed) : [];
  if (toPush.length) return { kind: 'push', images: toPush };
  return { kind: 'finish' };
}

/** Schedule, time zone and encryption, or why they cannot work. */
function validate(b: CheckpointBackup): { schedule: Schedule; tz: string } | Action {
  const schedule = parseSchedule(b.spec.schedule);
  if (schedule.kind === 'invalid')
    return { kind: 'fail', reason: 'InvalidSchedule', message: schedule.message, retry: false };
  // The CRD refuses it too; an object stored before that rule, or a spec edited under a run, meets this.
  const unencryptable = encryptionRefusal(b);
  if (unencryptable) return { kind: 'fail', ...unencryptable, retry: false };
  const tz = b.spec.timeZone || 'UTC';
  if (!isTimeZone(tz)) {
    return {
      kind: 'fail',
      reason: 'InvalidSchedule',
      message: `spec.timeZone "${tz}" is not an IANA time zone (e.g. UTC, Europe/Berlin)`,
      retry: false,
    };
  }
  return { schedule, tz };
}

/** A run in progress that has not finished in this long is presumed abandoned by its node's agent. */
export const STALE_RUN_MS = 15 * 60_000;

function staleRun(b: Pick<CheckpointBackup, 'status'>, now: Date): boolean {
  const started = Date.parse(b.status?.run?.startedAt ?? '');
  return !Number.isNaN(started) && now.getTime() - started > STALE_RUN_MS;
}

/**
 * Whether a status shows another node's run in progress, not yet stale: a failure this agent saw (its pod missing, read
 * before the pod's node started the run) must not end it, also when a 409 makes it decide again on the fresh copy.
 */
export function anotherNodesLiveRun(s: CheckpointBackupStatus, node: string, now: Date): boolean {
  return runInProgress(s) && s.run!.node !== node && !staleRun({ status: s }, now);
}

/** Whose work it is: ours (undefined), someone else's (ignore), or a run of ours to continue. */
function whoActs(i: PlanInput): Action | undefined {
  const b = i.backup;
  const podHere = !!i.pod && i.pod.nodeName === i.node;
  if (inProgress(b) && b.status?.run?.node === i.node) {
    // Our own run: finish what the archives allow even if the pod has gone meanwhile.
    const next = resume(b, i.archiveExists, i.refusedArchive);
    return next.kind === 'checkpoint' && !podHere ? podGone(b) : next;
  }
  // Another node's run in progress is its agent's to finish, even once its pod is gone (stopPod deletes it before
  // the run records CompletedPodDeleted); only a run silent for STALE_RUN_MS is an orphan's to report.
  if (inProgress(b) && b.status?.run?.node !== i.node && !staleRun(b, i.now)) return { kind: 'ignore' };
  if (!i.pod) return i.reportsOrphans ? podGone(b) : { kind: 'ignore' };
  if (!podHere) return { kind: 'ignore' };
  if (inProgress(b)) return resume(b, i.archiveExists, i.refusedArchive);
  return undefined;
}

function planImmediately(i: PlanInput, containers: string[]): Action {
  const b = i.backup;
  const run = b.status?.run;
  const generation = b.metadata.generation ?? 0;
  const phase = b.status?.phase;
  const failures = run?.generation === generation ? (run.failures ?? 0) : 0;
  if (b.status?.observedGeneration !== generation || phase === undefined)
    return { kind: 'start', containers };
  // Failed with no run of this generation: nothing of this spec was attempted, and the failure was about a world
  // that has changed since. Mostly the pod was missing (Karmada may apply the object before the workload that makes
  // its pod, as when a member comes back from an outage); also a container the pod lacked, or an older spec's run.
  // The pod is on this node now, with the containers asked for, so the first attempt starts. Not for stopPod: a
  // Migrate's one-off checkpoint takes PodNotFound as final (restore/fresh-checkpoint.ts), and a pod of that name
  // that runs later (a user's recreated one) must not be checkpointed and deleted.
  if (phase === 'Failed' && run?.generation !== generation && !b.spec.stopPod)
    return { kind: 'start', containers };
  if (phase !== 'Failed' || failures === 0 || failures >= i.maxAttempts) return { kind: 'wait' };
  // A failed stopPod run is not retried: its pod must be stopped only after a checkpoint its asker still waits for.
  // A Migrate takes the Failed as final and rolls back; a retry after that would checkpoint and delete the source.
  if (b.spec.stopPod) return { kind: 'wait' };
  const retryAt = new Date(new Date(run?.startedAt ?? 0).getTime() + retryDelayMs(failures));
  return retryAt <= i.now ? { kind: 'start', containers } : { kind: 'wait', next: retryAt };
}

/** A tick at or before now that no run has served yet is due, including one missed while the agent was down. */
function planCron(i: PlanInput, expression: string, tz: string, containers: string[]): Action {
  const b = i.backup;
  const recorded = b.status?.nextScheduledTime ? new Date(b.status.nextScheduledTime) : undefined;
  const next = nextTick(expression, i.now, tz);
  // A new or edited schedule starts counting from now.
  if (b.status?.observedGeneration !== (b.metadata.generation ?? 0) || !recorded)
    return next ? { kind: 'wait', next } : { kind: 'wait' };
  if (recorded.getTime() > i.now.getTime()) return { kind: 'wait', next: recorded };
  return { kind: 'start', containers, tick: recorded, ...(next ? { next } : {}) };
}

/**
 * An object that names another namespace, or sends the platform's default secret to a registry the platform did not
 * name for it, is refused before anything is read or done for it (issue 11). One agent per cluster says so: the
 * node of a run in progress (which stops it), else the one that answers for pods on no node; the pod's own node is
 * no better a judge, and reading another namespace's pod to find it would already be acting there. A status that
 * already says so for this generation is left alone, so the refusal is written (and its Event sent) once.
 */
function refuse(i: PlanInput): Action | undefined {
  const b = i.backup;
  const r = refusal(b, i.defaultSecretRegistries);
  if (!r) return undefined;
  const running = inProgress(b) && !staleRun(b, i.now);
  if (running ? b.status?.run?.node !== i.node : !i.reportsOrphans) return { kind: 'ignore' };
  const s = b.status;
  if (
    s?.phase === 'Failed' &&
    s.message === r.message &&
    s.observedGeneration === (b.metadata.generation ?? 0)
  )
    return { kind: 'wait' };
  return { kind: 'fail', reason: r.reason, message: r.message, retry: false };
}

/**
 * Decides the next step for one CheckpointBackup on one node. Pure: the controller reads the world into PlanInput,
 * performs the action, records the result in status, and asks again.
 */
export function plan(i: PlanInput): Action {
  const b = i.backup;
  const refused = refuse(i);
  if (refused) return refused;
  const valid = validate(b);
  if ('kind' in valid) return valid;
  const phase = b.status?.phase;
  const sameSpec = b.status?.observedGeneration === (b.metadata.generation ?? 0);
  // Done for this spec: a stopPod run that ended, or an "immediately" run that completed. The pod may be gone.
  if (sameSpec && (phase === 'CompletedPodDeleted' || phase === 'CompletedWithError'))
    return { kind: 'wait' };
  if (sameSpec && phase === 'Completed' && valid.schedule.kind === 'immediately') return { kind: 'wait' };
  const who = whoActs(i);
  if (who) return who;
  const pod = i.pod!;
  if (pod.deleting) return { kind: 'wait' };
  const chosen = chooseContainers(b, pod);
  if ('missing' in chosen) {
    const have = pod.containers.map((c) => c.name).join(', ');
    return {
      kind: 'fail',
      reason: 'ContainerNotFound',
      message: `pod ${pod.namespace}/${pod.name} has no container ${chosen.missing.join(', ')} (it has: ${have})`,
      retry: false,
    };
  }
  return valid.schedule.kind === 'immediately'
    ? planImmediately(i, chosen.names)
    : planCron(i, (valid.schedule as { expression: string }).expression, valid.tz, chosen.names);
}

function podGone(b: CheckpointBackup): Action {
  const ns = podNamespace(b);
  return {
    kind: 'fail',
    reason: 'PodNotFound',
    message: `pod ${ns}/${podName(b)} does not exist in this cluster: check spec.podRef`,
    retry: true,
  };
}

/**
 * When the agent looks at a failed object again, in ms (undefined: only when something about it changes). A cron
 * object waits for its next recorded tick; once that tick has passed without a run (its pod is gone), polling would
 * only re-read the same failure: the pod's return or a spec edit wakes it. An "immediately" object retries with
 * backoff while a retry may succeed and attempts are left. A failure that was no attempt (failures 0: the pod was
 * missing before any run) is not polled either: the agent of the node the pod comes to runs the first attempt
 * (planImmediately), woken by its pod watch. Polling it was one pod GET per object every 10 s, forever, from the
 * agent that answers for pods on no node: 300 a second for 3000 such objects.
 */
export function comeBackAfterFailure(i: {
  cron: boolean;
  retry: boolean;
  failures: number;
  maxAttempts: number;
  nextScheduledTime: string | undefined;
  now: Date;
}): number | undefined {
  if (i.cron) {
    const next = Date.parse(i.nextScheduledTime ?? '');
    return next > i.now.getTime() ? next - i.now.getTime() : undefined;
  }
  if (!i.retry || i.failures === 0 || i.failures >= i.maxAttempts) return undefined;
  return retryDelayMs(i.failures);
}

/**
 * How a run ends, from what became of its pod when spec.stopPod asked to delete it. A pod that is gone, or whose
 * name a replacement now has, is no longer running what was checkpointed; one the agent could not delete, or could
 * not tell from a replacement, is a CompletedWithError the user must look at.
 */
export function finishedRun(i: { containers: string[]; pod: string; deletion?: PodDeletion }): {
  phase: 'Completed' | 'CompletedPodDeleted' | 'CompletedWithError';
  message: string;
} {
  const done = `checkpointed ${i.containers.join(', ')}`;
  switch (i.deletion?.kind) {
    case undefined:
      return { phase: 'Completed', message: done };
    case 'deleted':
      return { phase: 'CompletedPodDeleted', message: `${done}; pod ${i.pod} deleted` };
    case 'gone':
      // The checkpoint step deletes a stopPod run's pod right after the checkpoint, so by the finish it is gone.
      return {
        phase: 'CompletedPodDeleted',
        message: `${done}; pod ${i.pod} deleted (right after its checkpoint, or by someone else before)`,
      };
    case 'replaced':
      return {
        phase: 'CompletedPodDeleted',
        message: `${done}; pod ${i.pod} was already gone, and the pod now of that name (a replacement) was left running`,
      };
    case 'unknownUid':
      return {
        phase: 'CompletedWithError',
        message: `${done}; pod ${i.pod} not deleted: the checkpointed pod's uid was not recorded, so it cannot be told from a replacement`,
      };
    case 'failed':
      return {
        phase: 'CompletedWithError',
        message: `${done}; deleting the pod failed: ${i.deletion.message}`,
      };
  }
}

/** Backoff before retrying a failed "immediately" run: 10 s, 20 s, 40 s, ... capped at 5 min. */
export function retryDelayMs(failures: number): number {
  return Math.min(300_000, 10_000 * 2 ** Math.max(0, failures - 1));
}

export interface Failure {
  reason: string;
  message: string;
  /** Whether a later attempt may succeed (counted in run.failures). */
  retry: boolean;
  /** The object's generation. */
  generation: number;
}

/** Whether status already says this failure, at this generation. */
function recorded(s: CheckpointBackupStatus, f: Failure): boolean {
  const reason = s.conditions?.find((c) => c.type === 'Completed')?.reason;
  return (
    s.phase === 'Failed' &&
    s.message === f.message &&
    s.observedGeneration === f.generation &&
    reason === f.reason
  );
}

/**
 * The status a failure leaves, or undefined when it is recorded already (then nothing is written and no Event is
 * due). Only a failure that ends a run in progress is an attempt, counted in run.failures when a retry may succeed;
 * a failure observed again on a later pass (the pod of a finished run deleted, a schedule still invalid) is the same
 * failure. Without this every pass wrote once more, each write woke the informer for another pass, and the status
 * never settled (run.failures grew, one Warning Event per pass).
 */
export function failedStatus(s: CheckpointBackupStatus, f: Failure): CheckpointBackupStatus | undefined {
  const gen = f.generation;
  const running = runInProgress(s);
  if (!running && recorded(s, f)) return undefined;
  const attempt = running && f.retry && s.run?.generation === gen;
  return {
    ...s,
    phase: 'Failed',
    message: f.message,
    observedGeneration: gen,
    ...(s.run ? { run: { ...s.run, ...(attempt ? { failures: (s.run.failures ?? 0) + 1 } : {}) } } : {}),
    conditions: setCondition(s.conditions, {
      type: 'Completed',
      status: 'False',
      reason: f.reason,
      message: f.message,
      observedGeneration: gen,
    }),
  };
}

/**
 * The per-node agent finalizers of an object being deleted whose Node no longer exists. Each agent releases only its
 * own finalizer (after deleting its node's archives), so a node that was removed, and its agent with it, would keep
 * the object Terminating forever; its archives went with the node.
 */
export function staleNodeFinalizers(
  finalizers: string[],
  prefix: string,
  nodes: readonly string[],
): string[] {
  const live = new Set(nodes);
  return finalizers.filter((f) => f.startsWith(prefix) && !live.has(f.slice(prefix.length)));
}

/**
 * Whether an event of this object may be this agent's work, decided before it is queued so that an agent's work
 * follows its own node's pods and not the cluster's objects: its finalizer is on the object (its runs and its
 * clean-up), the current run is its node's, the pod is on its node, or it answers for pods on no node (then all but
 * another node's live run, which that node's agent finishes, and an object being deleted, whose removed nodes'
 * finalizers it releases). A conservative filter: plan() still decides; whatever passes here may be ignored there.
 */
export function concernsNode(
  b: CheckpointBackup,
  i: { node: string; finalizer: string; podHere: boolean; reportsOrphans: boolean; now: Date },
): boolean {
  if (b.metadata.finalizers?.includes(i.finalizer)) return true;
  if (b.status?.run?.node === i.node || i.podHere) return true;
  if (!i.reportsOrphans) return false;
  if (b.metadata.deletionTimestamp) return true;
  return !(inProgress(b) && !staleRun(b, i.now));
}

/**
 * Whether this node's agent answers for pods that are on no node (and so for stale runs and gone Nodes' finalizers):
 * the one on the first Ready node by name, so exactly one agent per cluster does.
 */
export function answersForOrphans(nodes: readonly { name: string; ready: boolean }[], node: string): boolean {
  const ready = nodes
    .filter((n) => n.ready)
    .map((n) => n.name)
    .sort();
  return ready[0] === node;
}
