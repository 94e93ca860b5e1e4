import type { CheckpointBackup } from './checkpoint-backup.js';
import { IMMEDIATELY } from './schedule.js';
import type { Refusal } from './tenancy.js';

/**
 * State kept through evictions and cluster failovers (issue 16, docs/adr/0004): the opt-in is a field of the
 * workload-level CheckpointBackup, because the backup already holds everything a restore needs (registry, its
 * secret, containers, encryption) and its tenant is the one who decides.
 */
export interface KeepState {
  /** Drain: an eviction of a covered pod waits for a fresh checkpoint, at most this long. */
  eviction?: { timeoutSeconds?: number };
  /** Cluster failover: replicas restore from their latest pushed checkpoint if it is not older than this. */
  clusterFailover?: { maxAgeSeconds?: number };
}

/** Bounds and defaults, shared by the CRD schema and the defaults the controllers apply to older objects. */
export const KEEP_STATE_LIMITS = {
  /** Long enough for a checkpoint and a push of a few hundred MiB; short enough that a drain is not held for long. */
  timeoutSeconds: { minimum: 10, maximum: 3600, default: 120 },
  /** From a minute (a per-minute schedule) to a week; the default is a quarter of an hour of lost work at most. */
  maxAgeSeconds: { minimum: 60, maximum: 7 * 24 * 3600, default: 900 },
} as const;

export const KEEP_STATE_NEEDS_WORKLOAD = 'KeepStateNeedsWorkload';
export const KEEP_STATE_NEEDS_REGISTRY = 'KeepStateNeedsRegistry';
export const FAILOVER_NEEDS_SCHEDULE = 'FailoverNeedsSchedule';

/** The messages the CRD rules, the admission policy and the controllers share. */
export const KEEP_STATE_MESSAGES = {
  needsWorkload:
    'spec.keepState is for a workload-level backup (no spec.podRef, a Deployment or StatefulSet in ' +
    "spec.resourceRef): the pods that come back after an eviction or a failover are created by the workload's " +
    'controller; remove spec.podRef, or remove spec.keepState',
  needsRegistry:
    'spec.keepState needs spec.registry: the replacement pods restore from checkpoint images another node or ' +
    'cluster pulls from a registry',
  failoverNeedsSchedule:
    'spec.keepState.clusterFailover needs a cron spec.schedule: "immediately" checkpoints once, so a failover ' +
    'later would find only an old checkpoint; set a schedule such as "*/5 * * * *"',
} as const;

/** keepState with every default applied (objects stored before the CRD's defaults came in lack them). */
export function keepStateSettings(b: Pick<CheckpointBackup, 'spec'>): {
  eviction?: { timeoutSeconds: number };
  clusterFailover?: { maxAgeSeconds: number };
} {
  const k = b.spec.keepState;
  if (!k) return {};
  return {
    ...(k.eviction
      ? {
          eviction: {
            timeoutSeconds: k.eviction.timeoutSeconds ?? KEEP_STATE_LIMITS.timeoutSeconds.default,
          },
        }
      : {}),
    ...(k.clusterFailover
      ? {
          clusterFailover: {
            maxAgeSeconds: k.clusterFailover.maxAgeSeconds ?? KEEP_STATE_LIMITS.maxAgeSeconds.default,
          },
        }
      : {}),
  };
}

/**
 * Why a keepState cannot be served, or undefined. The CRD and the admission policy refuse such objects; this covers
 * objects stored before those rules, for the agent and the hub.
 */
export function keepStateRefusal(b: Pick<CheckpointBackup, 'spec'>): Refusal | undefined {
  const k = b.spec.keepState;
  if (!k) return undefined;
  if (b.spec.podRef) return { reason: KEEP_STATE_NEEDS_WORKLOAD, message: KEEP_STATE_MESSAGES.needsWorkload };
  if (!b.spec.registry)
    return { reason: KEEP_STATE_NEEDS_REGISTRY, message: KEEP_STATE_MESSAGES.needsRegistry };
  if (k.clusterFailover && b.spec.schedule.trim() === IMMEDIATELY)
    return { reason: FAILOVER_NEEDS_SCHEDULE, message: KEEP_STATE_MESSAGES.failoverNeedsSchedule };
  return undefined;
}

/**
 * The same rules in CEL, over `root` (`self` in the CRD's spec validations, `object.spec` in the admission policy),
 * so the CRD and the policy cannot drift apart. The bounds are the schema's (minimum, maximum), not CEL.
 */
export function keepStateCelRules(root: string): { expression: string; message: string }[] {
  const k = `${root}.keepState`;
  return [
    { expression: `!has(${k}) || !has(${root}.podRef)`, message: KEEP_STATE_MESSAGES.needsWorkload },
    { expression: `!has(${k}) || has(${root}.registry)`, message: KEEP_STATE_MESSAGES.needsRegistry },
    {
      // CEL's trim() needs the strings extension; matches() is standard CEL on every apiserver.
      expression: `!has(${k}) || !has(${k}.clusterFailover) || !${root}.schedule.matches('^\\\\s*${IMMEDIATELY}\\\\s*$')`,
      message: KEEP_STATE_MESSAGES.failoverNeedsSchedule,
    },
  ];
}
