import {
  API_GROUP,
  type BuiltImage,
  type CheckpointBackup,
  type CheckpointedPod,
} from './checkpoint-backup.js';
import type { AggregatePhase } from './phases.js';
import type { Refusal } from './tenancy.js';

/**
 * Workload-level backups (issue 13): a CheckpointBackup whose resourceRef is a Deployment or StatefulSet and that
 * names no pod covers every pod of that workload in every member cluster where Karmada runs it. In each member the
 * agents make one child CheckpointBackup per pod (with podRef, owned by the member's copy), which the single-pod
 * machinery checkpoints as it always has; the member copy's status.replicas sums them up, and the hub brings that
 * back per cluster. docs/adr (workload-level backups) says why children.
 */

/** The kinds a backup may cover whole, in apps/v1. */
export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** On each child: the name of the workload-level backup it belongs to (when it fits a label value). */
export const WORKLOAD_BACKUP_LABEL = `${API_GROUP}/workload-backup`;

/**
 * On what a CheckpointRestore makes on the Karmada control plane (`<namespace>.<restore>`). A workload-level
 * CheckpointBackup carrying it may have stopPod: a migration's own fresh checkpoint, whose replacements the
 * migration's webhook holds unscheduled (docs/adr/0007). A tenant could set it on a backup of their own; it only
 * stops their own pods, as stopPod does.
 */
export const MIGRATION_OWNER_LABEL = `${API_GROUP}/restore-owner`;

export const POD_REF_REQUIRED = 'PodRefRequired';
export const STOP_POD_OF_WORKLOAD = 'StopPodOfWorkload';

/** Whether the object covers a whole workload: it names no pod. */
export function isWorkloadBackup(b: Pick<CheckpointBackup, 'spec'>): boolean {
  return !b.spec.podRef;
}

/** The pod a single-pod backup names; '' for a workload-level one (which has none). */
export function podName(b: Pick<CheckpointBackup, 'spec'>): string {
  return b.spec.podRef?.name ?? '';
}

const kindsText = `${WORKLOAD_KINDS.join(' or ')} (apps/v1)`;

/** The messages the CRD rules, the admission policy and the controllers share. */
export const WORKLOAD_MESSAGES = {
  podRefRequired:
    `spec.podRef may be omitted only when spec.resourceRef is a ${kindsText}: then every pod of that workload is ` +
    'checkpointed; for any other kind name the pod in spec.podRef',
  stopPod:
    "spec.stopPod is for a single pod: a workload's controller replaces a deleted pod at once; to move a workload, " +
    `migrate it with a CheckpointRestore (whose own checkpoint, labelled ${MIGRATION_OWNER_LABEL}, may stop its pods)`,
} as const;

/**
 * Why a spec without podRef cannot be served, or undefined. The CRD and the admission policy refuse such objects;
 * this covers objects stored before those rules, for the agent and the hub.
 */
export function workloadRefusal(
  b: Pick<CheckpointBackup, 'spec'> & { metadata?: { labels?: Record<string, string> } },
): Refusal | undefined {
  if (!isWorkloadBackup(b)) return undefined;
  const r = b.spec.resourceRef;
  const kindOk = (WORKLOAD_KINDS as readonly string[]).includes(r?.kind ?? '');
  if (!kindOk || (r.apiVersion && r.apiVersion !== 'apps/v1'))
    return { reason: POD_REF_REQUIRED, message: WORKLOAD_MESSAGES.podRefRequired };
  if (b.spec.stopPod && !b.metadata?.labels?.[MIGRATION_OWNER_LABEL])
    return { reason: STOP_POD_OF_WORKLOAD, message: WORKLOAD_MESSAGES.stopPod };
  return undefined;
}

/**
 * The same two rules in CEL, over `root` (`self` in the CRD's spec validations, `object.spec` in the admission
 * policy), so the CRD and the policy cannot drift apart. The stopPod rule needs the labels (`labels`: the CEL of
 * the object's metadata), which a CRD's spec rule cannot see: only the admission policy states it, and refusal()
 * for the controllers.
 */
export function workloadCelRules(root: string, labels?: string): { expression: string; message: string }[] {
  const kinds = WORKLOAD_KINDS.map((k) => `'${k}'`).join(', ');
  const ref = `${root}.resourceRef`;
  return [
    {
      expression:
        `has(${root}.podRef) || (has(${ref}.kind) && ${ref}.kind in [${kinds}] && ` +
        `(!has(${ref}.apiVersion) || ${ref}.apiVersion == 'apps/v1'))`,
      message: WORKLOAD_MESSAGES.podRefRequired,
    },
    ...(labels
      ? [
          {
            expression:
              `has(${root}.podRef) || !has(${root}.stopPod) || !${root}.stopPod || ` +
              `(has(${labels}.labels) && '${MIGRATION_OWNER_LABEL}' in ${labels}.labels)`,
            message: WORKLOAD_MESSAGES.stopPod,
          },
        ]
      : []),
  ];
}

/** One pod of a workload in one cluster, as the member's status.replicas (and the hub's clusters[].replicas) show it. */
export interface ReplicaStatus {
  pod: string;
  /** The child CheckpointBackup in the member that checkpoints this pod. */
  backup: string;
  node?: string;
  /** A StatefulSet pod's ordinal. */
  ordinal?: number;
  /** The child's phase; Pending before its first run. */
  phase: AggregatePhase;
  message?: string;
  /** False once the pod is gone (scaled down, replaced): its last record is kept for restores. */
  present: boolean;
  lastCheckpointTime?: string;
  /** The newest image of each container, by digest once pushed: what this replica would be restored from. */
  images?: BuiltImage[];
  /** What the agent recorded of the pod at its last checkpoint (for restores). */
  checkpointedPod?: CheckpointedPod;
}
