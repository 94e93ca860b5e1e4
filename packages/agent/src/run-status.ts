import {
  setCondition,
  withBuiltImages,
  type BuiltImage,
  type CheckpointBackup,
  type CheckpointBackupStatus,
  type CheckpointedPod,
  type CheckpointFile,
  type RunStatus,
} from '@stateful-migration/api';
import { runTag } from './image.js';
import { CheckpointError } from './kubelet.js';

// The status each step of a run records, as pure functions of the status read (the shells write what these return,
// through writeStatus, which asks again on a 409). Together with plan() they are the whole of the agent's decisions.

type Status = CheckpointBackupStatus;

/** A new run: Checkpointing, with its id (a tag), node, containers and the tick it serves; no archives yet. */
export function startedStatus(
  s: Status,
  i: {
    containers: string[];
    /** `<namespace>/<name>` of the pod, for the message. */
    pod: string;
    node: string;
    generation: number;
    now: Date;
    tick?: Date;
    next?: Date;
  },
): Status {
  // Failed attempts of this generation carry over (planImmediately stops after maxAttempts); a new spec starts at 0.
  const failures = s.run?.generation === i.generation && s.phase === 'Failed' ? (s.run.failures ?? 0) : 0;
  return {
    ...s,
    phase: 'Checkpointing',
    message: `checkpointing ${i.containers.join(', ')} of pod ${i.pod} on ${i.node}`,
    observedGeneration: i.generation,
    run: {
      id: runTag(i.now),
      startedAt: i.now.toISOString(),
      generation: i.generation,
      node: i.node,
      containers: i.containers,
      failures,
      ...(i.tick ? { tick: i.tick.toISOString() } : {}),
    },
    checkpointFiles: [],
    ...(i.next ? { nextScheduledTime: i.next.toISOString() } : {}),
  };
}

/** Checkpointed: these containers' archives replace what was recorded for them; the pod as it was, for restores. */
export function checkpointedStatus(
  s: Status,
  containers: string[],
  files: CheckpointFile[],
  pod: CheckpointedPod | undefined,
): Status {
  const kept = (s.checkpointFiles ?? []).filter((f) => !containers.includes(f.containerName));
  const all = [...kept, ...files];
  return {
    ...s,
    phase: 'Checkpointed',
    message: `checkpointed ${all.map((f) => f.containerName).join(', ')}`,
    checkpointFiles: all,
    ...(pod ? { checkpointedPod: pod } : {}),
  };
}

export function buildingStatus(s: Status, files: CheckpointFile[]): Status {
  return {
    ...s,
    phase: 'ImageBuilding',
    message: `building images for ${files.map((f) => f.containerName).join(', ')}`,
  };
}

/**
 * ImageBuilt: the run's images appended to builtImages (one entry per name), the one place that list grows, so it
 * is bounded here per container, the run's own images (its tag) always kept.
 */
export function builtStatus(s: Status, images: BuiltImage[], run: Pick<RunStatus, 'id'>): Status {
  const before = s.builtImages ?? [];
  return {
    ...s,
    phase: 'ImageBuilt',
    message: `built ${images.map((i) => i.imageName).join(', ')}`,
    ...withBuiltImages(
      s,
      [...before.filter((x) => !images.some((i) => i.imageName === x.imageName)), ...images],
      new Set([...before, ...images].map((i) => i.imageName).filter((n) => n.endsWith(`:${run.id}`))),
    ),
  };
}

export function pushingStatus(s: Status, images: BuiltImage[], encrypted = false): Status {
  return {
    ...s,
    phase: 'ImagePushing',
    message: `pushing ${images.map((i) => i.imageName).join(', ')}${encrypted ? ' encrypted' : ''}`,
  };
}

/**
 * ImagePushed: these images marked pushed, with what each push recorded by image name (the digest the registry
 * got and, for an encrypted image, its recipients: its digest is known only once pushed).
 */
/** What a push records of an image: its digest, its recipients when encrypted, the archive's digest. */
export type PushResult = Pick<BuiltImage, 'digest' | 'encryptedFor' | 'archiveDigest'>;

export function pushedStatus(
  s: Status,
  images: BuiltImage[],
  pushed: ReadonlyMap<string, PushResult> = new Map(),
): Status {
  const names = new Set(images.map((i) => i.imageName));
  const keys = [...pushed.values()].find((p) => p.encryptedFor)?.encryptedFor?.length;
  return {
    ...s,
    phase: 'ImagePushed',
    message: `pushed ${images.map((i) => i.imageName).join(', ')}${keys ? ` encrypted for ${keys} key(s)` : ''}`,
    builtImages: (s.builtImages ?? []).map((x) =>
      names.has(x.imageName) ? { ...x, ...pushed.get(x.imageName), pushed: true } : x,
    ),
  };
}

/** The run's end (finishedRun says which): no archives left, the tick's time recorded, its failures reset. */
export function finishedStatus(
  s: Status,
  i: {
    run: RunStatus;
    phase: 'Completed' | 'CompletedPodDeleted' | 'CompletedWithError';
    message: string;
    generation: number;
  },
): Status {
  return {
    ...s,
    phase: i.phase,
    message: i.message,
    checkpointFiles: [],
    lastCheckpointTime: i.run.startedAt,
    run: { ...i.run, failures: 0 },
    conditions: setCondition(s.conditions, {
      type: 'Completed',
      status: 'True',
      reason: i.phase,
      message: i.message,
      observedGeneration: i.generation,
    }),
  };
}

/**
 * Nothing due: what to record (a cron object's next tick and the generation it was computed for, only when status
 * says otherwise) and when to come back (the next tick; never, when there is none).
 */
export function waiting(
  b: Pick<CheckpointBackup, 'metadata' | 'spec' | 'status'>,
  next: Date | undefined,
  now: Date,
): { record?: Pick<Status, 'observedGeneration' | 'nextScheduledTime'>; requeueAfterMs?: number } {
  const gen = b.metadata.generation ?? 0;
  const nextIso = next?.toISOString();
  const cron = b.spec.schedule.trim() !== 'immediately';
  const stale = b.status?.nextScheduledTime !== nextIso || b.status?.observedGeneration !== gen;
  return {
    ...(cron && stale
      ? { record: { observedGeneration: gen, ...(nextIso ? { nextScheduledTime: nextIso } : {}) } }
      : {}),
    ...(next ? { requeueAfterMs: Math.max(0, next.getTime() - now.getTime()) } : {}),
  };
}

/**
 * How a step's failure ends the run: a CheckpointError says its reason and whether a retry may succeed; anything
 * else (a registry or apiserver error) is worth a retry, under the reason it carries, else StepFailed.
 */
export function stepFailure(err: unknown): { reason: string; message: string; retry: boolean } {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof CheckpointError) return { reason: err.reason, message, retry: err.transient };
  return { reason: (err as { reason?: string } | undefined)?.reason ?? 'StepFailed', message, retry: true };
}
