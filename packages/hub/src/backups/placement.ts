import type { ClusterAffinity, LabelSelector } from '@stateful-migration/api';

export type { ClusterAffinity, LabelSelector };

export interface ClusterInfo {
  name: string;
  labels: Record<string, string>;
}

export interface PlacementInput {
  affinity?: ClusterAffinity;
  clusters: ClusterInfo[];
  /** Where the resourceRef's workload is scheduled (its ResourceBinding's spec.clusters). */
  workloadClusters?: string[];
  /** Clusters where podRef is known to run (from status collected back, or the cluster proxy). */
  podClusters?: string[];
  /** A user-written PropagationPolicy that already selects the object. */
  userPolicy?: string;
  /** e.g. Deployment/web, for messages. */
  workload: string;
}

export type Placement =
  | { kind: 'clusters'; clusters: string[]; by: 'placement' | 'workload' | 'pod' }
  | { kind: 'userPolicy'; policy: string }
  | { kind: 'unplaceable'; message: string };

/** Whether labels satisfy a selector (an empty selector matches everything, as in Kubernetes). */
export function matches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    const ok = { In: inValues, NotIn: !inValues, Exists: has, DoesNotExist: !has }[e.operator];
    if (!ok) return false;
  }
  return true;
}

/**
 * Where a CheckpointBackup goes: a user's own PropagationPolicy wins; then spec.placement; then the clusters where its
 * workload is scheduled, narrowed to the one running its pod when that is known; otherwise it cannot be placed, and
 * the message says what to add.
 */
export function place(i: PlacementInput): Placement {
  if (i.userPolicy) return { kind: 'userPolicy', policy: i.userPolicy };
  if (i.affinity && (i.affinity.clusterNames?.length || i.affinity.labelSelector)) {
    const { clusterNames, labelSelector } = i.affinity;
    const chosen = i.clusters
      .filter((c) => !clusterNames?.length || clusterNames.includes(c.name))
      .filter((c) => !labelSelector || matches(labelSelector, c.labels))
      .map((c) => c.name)
      .sort();
    if (chosen.length) return { kind: 'clusters', clusters: chosen, by: 'placement' };
    const known =
      i.clusters
        .map((c) => c.name)
        .sort()
        .join(', ') || 'none';
    return {
      kind: 'unplaceable',
      message: `spec.placement.clusterAffinity selects no cluster (clusters: ${known})`,
    };
  }
  const workload = [...new Set(i.workloadClusters ?? [])].sort();
  if (workload.length) {
    const pod = workload.filter((c) => i.podClusters?.includes(c));
    return pod.length
      ? { kind: 'clusters', clusters: pod, by: 'pod' }
      : { kind: 'clusters', clusters: workload, by: 'workload' };
  }
  return {
    kind: 'unplaceable',
    message: `cannot tell which cluster runs the pod: ${i.workload} is not propagated by Karmada; add spec.placement.clusterAffinity (clusterNames or labelSelector)`,
  };
}

/**
 * What status.placement records for a decision: the chosen clusters, or under a user's policy the clusters Karmada
 * scheduled it to (its binding's).
 */
export function placementStatus(
  p: Exclude<Placement, { kind: 'unplaceable' }>,
  bindingClusters: string[],
): { clusters: string[]; by: string; policy?: string } {
  return p.kind === 'userPolicy'
    ? { clusters: [...bindingClusters].sort(), by: 'policy', policy: p.policy }
    : { clusters: p.clusters, by: p.by };
}

/**
 * Which of a workload's clusters run the pod, from what each answered through Karmada's cluster proxy (true: it has
 * the pod; false: 404; undefined: it could not answer). Only a 404 means "not there": when a cluster could not
 * answer and none has the pod, the last decision by pod stands if it is still among the clusters, else this throws
 * and the key is retried, so a hiccup never widens the placement. Undefined: no cluster runs it.
 */
export function runningClusters(
  answers: ReadonlyMap<string, boolean | undefined>,
  last: { by: string; clusters: string[] } | undefined,
): string[] | undefined {
  const clusters = [...answers.keys()];
  const running = clusters.filter((c) => answers.get(c) === true);
  if (running.length) return running;
  if (clusters.every((c) => answers.get(c) === false)) return undefined;
  if (last?.by === 'pod' && last.clusters.every((c) => clusters.includes(c))) return last.clusters;
  throw new Error(
    `cannot ask ${clusters.join(', ')} through the cluster proxy which one runs the pod; retrying`,
  );
}
