import { createHash } from 'node:crypto';
import { API_GROUP, API_VERSION, KIND } from '@stateful-migration/api';
import { isHubOwned, MANAGED_BY, POLICY_API_VERSION, type PropagationPolicy } from '../policies.js';

// One PropagationPolicy per (namespace, set of clusters), shared by every CheckpointBackup the hub places there
// (docs/adr: shared placement policies). Each object joins its policy by a label the hub sets on it; Karmada's
// detector matches that label per object, so a new object costs the policy nothing and the policy is never rewritten.
// Everything here is pure: the controller feeds it what the caches hold.

/** The label the hub sets on a CheckpointBackup it places: the name of the shared policy that selects it. */
export const POLICY_LABEL = `hub.${API_GROUP}/policy`;

/** Karmada's claim of a resource template by a PropagationPolicy (pkg/detector/claim.go). */
export const CLAIM = {
  id: 'propagationpolicy.karmada.io/permanent-id',
  name: 'propagationpolicy.karmada.io/name',
  namespace: 'propagationpolicy.karmada.io/namespace',
} as const;

const PREFIX = 'checkpointbackups-';

/**
 * The name of the shared policy for a set of clusters: readable (its first cluster, how many more) and unique (a hash
 * of the whole sorted set), at most 63 characters, so that it is also a valid label value. Order and repeats of the
 * input do not matter.
 */
export function sharedPolicyName(clusters: readonly string[]): string {
  const set = [...new Set(clusters)].sort();
  if (!set.length) throw new Error('a shared policy needs at least one cluster');
  const hash = createHash('sha256').update(set.join(',')).digest('hex').slice(0, 12);
  const more = set.length > 1 ? `-and-${set.length - 1}-more` : '';
  return `${PREFIX}${set[0]!.slice(0, 16)}${more}-${hash}`;
}

/** The hub's shared policy in a namespace: every CheckpointBackup labelled with its name, to exactly these clusters. */
export function sharedPolicy(namespace: string, clusters: readonly string[]): PropagationPolicy {
  const name = sharedPolicyName(clusters);
  return {
    apiVersion: POLICY_API_VERSION,
    kind: 'PropagationPolicy',
    metadata: { name, namespace, labels: { ...MANAGED_BY } },
    spec: {
      resourceSelectors: [
        { apiVersion: API_VERSION, kind: KIND, labelSelector: { matchLabels: { [POLICY_LABEL]: name } } },
      ],
      placement: { clusterAffinity: { clusterNames: [...new Set(clusters)].sort() } },
    },
  };
}

/** Whether a policy is one of the hub's shared CheckpointBackup policies (not a secret's, not a user's). */
export function isSharedPolicy(p: PropagationPolicy): boolean {
  return (
    p.kind !== 'ClusterPropagationPolicy' &&
    isHubOwned(p) &&
    p.spec.resourceSelectors.some(
      (s) => s.kind === KIND && s.labelSelector?.matchLabels?.[POLICY_LABEL] === p.metadata.name,
    )
  );
}

/**
 * The hub's policy of one object before sharing (`checkpointbackup-<name>`, selecting it by name): a hub that
 * finds one deletes it once the object has joined its shared policy.
 */
export function legacyPolicyName(backupName: string): string {
  return `checkpointbackup-${backupName}`.slice(0, 253);
}

/** The parts of a CheckpointBackup these decisions read. */
export interface Member {
  metadata: {
    name: string;
    namespace: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
  };
  status?: { placement?: { clusters: string[]; by: string }; observedGeneration?: number };
}

/**
 * The shared policy an object belongs in, from its status.placement (recorded before the hub acts on it), or undefined
 * when the hub does not place it (a user's policy does, or it is refused or withdrawn).
 */
export function wantedPolicy(b: Member): string | undefined {
  const p = b.status?.placement;
  return p && p.by !== 'policy' && p.clusters.length ? sharedPolicyName(p.clusters) : undefined;
}

/**
 * Whether the hub has yet to act on the object's spec (new, or changed since): every reconcile that gets through
 * records `status.observedGeneration`, placed, refused or unplaceable alike. Karmada sees an object only once it is
 * placed, and behind everything that entered its queues meanwhile, so this work goes ahead of the status bookkeeping
 * of other objects (a burst of thousands of binding updates would otherwise hold a new object back by their whole
 * length). Only the spec counts: an object whose label lags its recorded placement got there by a failed reconcile,
 * whose retry keeps its priority, and anything else (a policy name taken, a status write of its own) would keep it
 * ahead for good. An object being deleted owes nothing: its clean-up waits its turn.
 */
export function awaitsPlacement(b: Member): boolean {
  if (b.metadata.deletionTimestamp) return false;
  return b.status?.observedGeneration !== (b.metadata.generation ?? 0);
}

/**
 * Whether a shared policy is still needed: some object that is not being deleted carries its label or belongs in it
 * (status.placement is written before the label, so an object on its way in counts too).
 */
export function policyInUse(
  policy: { name: string; namespace: string },
  backups: readonly Member[],
): boolean {
  return backups.some(
    (b) =>
      b.metadata.namespace === policy.namespace &&
      !b.metadata.deletionTimestamp &&
      (b.metadata.labels?.[POLICY_LABEL] === policy.name || wantedPolicy(b) === policy.name),
  );
}

/** A JSON merge patch of an object's metadata: null removes a key. */
export interface MetadataPatch {
  labels?: Record<string, string | null>;
  annotations?: Record<string, string | null>;
  finalizers?: string[];
}

export interface MembershipInput {
  object: Member;
  /** The shared policy it belongs in, or undefined when it belongs in none. */
  want: string | undefined;
  /** Whether a PropagationPolicy of the object's namespace, by name, is one of the hub's (as cached). */
  hubPolicy: (name: string) => boolean;
  /** A finalizer the object must hold once it is placed (added in the same write). */
  finalizer?: string;
}

/**
 * The one write that moves an object into the policy it belongs in (or out of every policy of the hub's), or
 * undefined when it is where it belongs. Karmada's detector never lets go of an object its policy claimed, even when
 * the object no longer matches it (getAndApplyPolicy ignores the change); so when the claim is a policy of the
 * hub's other than the wanted one, the same write removes the claim, as Karmada itself does when a policy stops
 * selecting an object, and the detector then matches the object afresh: its own shared policy, or a user's. A claim
 * by a policy that is not the hub's is never touched.
 */
export function membershipPatch(i: MembershipInput): MetadataPatch | undefined {
  const { finalizers = [] } = i.object.metadata;
  const label = labelChange(i);
  const release = staleHubClaim(i);
  const patch: MetadataPatch = {};
  if (label || release) patch.labels = { ...label, ...(release ? { [CLAIM.id]: null } : {}) };
  if (release) patch.annotations = { [CLAIM.name]: null, [CLAIM.namespace]: null };
  if (i.want && i.finalizer && !finalizers.includes(i.finalizer))
    patch.finalizers = [...finalizers, i.finalizer];
  return Object.keys(patch).length ? patch : undefined;
}

/** The object's own label set to the wanted policy, or removed when it wants none; undefined when it is right. */
function labelChange(i: MembershipInput): Record<string, string | null> | undefined {
  const has = i.object.metadata.labels?.[POLICY_LABEL];
  if (has === i.want) return undefined;
  return { [POLICY_LABEL]: i.want ?? null };
}

/** Whether Karmada's claim names a policy of the hub's (in the object's namespace) other than the wanted one. */
function staleHubClaim(i: MembershipInput): boolean {
  const a = i.object.metadata.annotations ?? {};
  const claim = a[CLAIM.name];
  if (claim === undefined || claim === i.want) return false;
  const ns = a[CLAIM.namespace];
  return (ns === undefined || ns === i.object.metadata.namespace) && i.hubPolicy(claim);
}
