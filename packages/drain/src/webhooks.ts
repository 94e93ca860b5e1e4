import { createHash } from 'node:crypto';
import { API_GROUP, type CheckpointBackup, type OwnerReference } from '@stateful-migration/api';
import { backupClustersOf, coveringBackup } from './objects.js';

/**
 * The standing webhook configurations of "keep state on eviction" (docs/adr/0004): in each member where a
 * workload-level backup with spec.keepState.eviction is placed, one ValidatingWebhookConfiguration (the eviction
 * gate, on pods/eviction) and one MutatingWebhookConfiguration (the replacement, on pod CREATE), each with one webhook
 * per such backup, scoped to its namespace and its workload's pods, both failing open (failurePolicy Ignore: a hub
 * that is down never blocks a drain or a pod; the cost is a pod that leaves or comes back without its state). Pure:
 * the hub's shell (packages/hub/src/drain/webhooks.ts) writes them through the cluster proxy, and deletes them from a
 * member where no backup needs them any more.
 */

/** The name of both configurations: `stateful-migration.` and no second dot, so never a migration's `<ns>.<restore>`. */
export const KEEP_STATE_WEBHOOKS = 'stateful-migration.keep-state';
/** The gate's route; the cluster the call comes from is the last path segment. */
export const EVICT_ROUTE = '/evict/pods/';
/** The replacement's route. */
export const DRAIN_PODS_ROUTE = '/drain/pods/';

export interface Endpoint {
  /** The hub webhook's base URL as members reach it (no trailing /). */
  url: string;
  /** PEM of the CA of its serving certificate. */
  caBundle: string;
}

/** A workload whose pods keep their state on eviction in a cluster, and the backup that says so. */
export interface KeptWorkload {
  namespace: string;
  backup: string;
  kind: 'Deployment' | 'StatefulSet';
  name: string;
}

/**
 * Whether a backup asks to keep state on eviction: only such a backup (before or after a change) can change what the
 * keep-state webhooks say.
 */
export function keepsStateOnEviction(b: Pick<CheckpointBackup, 'spec'>): boolean {
  return !!b.spec.keepState?.eviction;
}

/** Per cluster, the workloads whose evictions the gate must see (sorted, so an unchanged set writes nothing). */
export function keptWorkloads(backups: CheckpointBackup[]): Map<string, KeptWorkload[]> {
  const out = new Map<string, KeptWorkload[]>();
  // Only a backup that keeps state on eviction can cover a workload (coveringBackup asks it first), so the rest are
  // left out before the pairwise look: its cost is then of the few backups that opt in, not of every backup. The hub
  // ran this on every backup event, over every backup twice, which was two thirds of its CPU at 400 objects.
  const optedIn = backups.filter(keepsStateOnEviction);
  for (const b of optedIn) {
    const kind = b.spec.resourceRef.kind;
    if (kind !== 'Deployment' && kind !== 'StatefulSet') continue;
    for (const cluster of backupClustersOf(b)) {
      // The same rule the gate answers by: only the backup that covers the workload there.
      const covering = coveringBackup(
        optedIn,
        b.metadata.namespace,
        { kind, name: b.spec.resourceRef.name },
        cluster,
      );
      if (covering?.backup !== b.metadata.name) continue;
      const list = out.get(cluster) ?? [];
      list.push({
        namespace: b.metadata.namespace,
        backup: b.metadata.name,
        kind,
        name: b.spec.resourceRef.name,
      });
      out.set(cluster, list);
    }
  }
  for (const list of out.values())
    list.sort((x, y) => x.namespace.localeCompare(y.namespace) || x.backup.localeCompare(y.backup));
  return out;
}

type Config = Record<string, unknown> & {
  kind: string;
  metadata: { name: string; labels: Record<string, string>; ownerReferences: OwnerReference[] };
  webhooks: Record<string, unknown>[];
};

const managedBy = { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' };

/**
 * The pods of a workload by name, for an eviction (the Eviction object carries only the pod's name): a StatefulSet's
 * `<sts>-<ordinal>` exactly; a Deployment's `<deployment>-` prefix (its ReplicaSets' pods are
 * `<deployment>-<hash>-<suffix>`), which may also send another Deployment's pods whose name starts alike: the hub
 * then answers "not kept" at once. A StatefulSet's name is a DNS label, so it needs no escaping in the regex.
 */
function evictedPodCel(w: KeptWorkload): string {
  return w.kind === 'StatefulSet'
    ? `request.name.matches('^${w.name}-[0-9]+$')`
    : `request.name.startsWith('${w.name}-')`;
}

/** The pod's controller is the workload's: its StatefulSet, or a ReplicaSet named `<deployment>-<pod-template-hash>`. */
function ownerCel(w: KeptWorkload): string {
  const o =
    w.kind === 'StatefulSet'
      ? `o.kind == 'StatefulSet' && o.name == '${w.name}'`
      : `o.kind == 'ReplicaSet' && has(object.metadata.labels) && 'pod-template-hash' in object.metadata.labels && ` +
        `o.name == '${w.name}-' + object.metadata.labels['pod-template-hash']`;
  return `has(object.metadata.ownerReferences) && object.metadata.ownerReferences.exists(o, has(o.controller) && o.controller && ${o})`;
}

/**
 * A webhook's name: the first 16 hex digits of sha256(`<namespace>/<backup>`), then `<what>.<API group>`. Fixed
 * length, so valid for any backup name (a name built from the backup's, cut at 253 characters, could end in '.' or
 * make `Y` and `Y.s` collide), and one configuration holds every tenant's webhooks in a member, so one invalid or
 * duplicate name would have the apiserver refuse them all. The namespace cannot hold '/', so the input is unambiguous.
 */
export const keepStateWebhookName = (namespace: string, backup: string, what: 'evict' | 'replace'): string =>
  `${createHash('sha256').update(`${namespace}/${backup}`).digest('hex').slice(0, 16)}.${what}.${API_GROUP}`;

const webhookName = (w: KeptWorkload, what: 'evict' | 'replace') =>
  keepStateWebhookName(w.namespace, w.backup, what);

const clientConfig = (e: Endpoint, route: string, cluster: string) => ({
  url: `${e.url}${route}${encodeURIComponent(cluster)}`,
  caBundle: Buffer.from(e.caBundle).toString('base64'),
});

/** The gate's configuration in one cluster. */
export function gateConfiguration(
  cluster: string,
  endpoint: Endpoint,
  kept: KeptWorkload[],
  owner: OwnerReference,
): Config {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: KEEP_STATE_WEBHOOKS, labels: managedBy, ownerReferences: [owner] },
    webhooks: kept.map((w) => ({
      name: webhookName(w, 'evict'),
      clientConfig: clientConfig(endpoint, EVICT_ROUTE, cluster),
      rules: [
        {
          apiGroups: [''],
          apiVersions: ['v1'],
          operations: ['CREATE'],
          resources: ['pods/eviction'],
          scope: 'Namespaced',
        },
      ],
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': w.namespace } },
      matchConditions: [{ name: 'a-pod-of-the-workload', expression: evictedPodCel(w) }],
      // Fail open: a hub that cannot answer never blocks a drain (the pod then leaves without its state).
      failurePolicy: 'Ignore',
      // The first call creates the drain checkpoint; a dry-run eviction is answered without creating it.
      sideEffects: 'NoneOnDryRun',
      admissionReviewVersions: ['v1'],
      timeoutSeconds: 10,
    })),
  };
}

/** The replacement's configuration in one cluster. */
export function replacementConfiguration(
  cluster: string,
  endpoint: Endpoint,
  kept: KeptWorkload[],
  owner: OwnerReference,
): Config {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: KEEP_STATE_WEBHOOKS, labels: managedBy, ownerReferences: [owner] },
    webhooks: kept.map((w) => ({
      name: webhookName(w, 'replace'),
      clientConfig: clientConfig(endpoint, DRAIN_PODS_ROUTE, cluster),
      rules: [
        {
          apiGroups: [''],
          apiVersions: ['v1'],
          operations: ['CREATE'],
          resources: ['pods'],
          scope: 'Namespaced',
        },
      ],
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': w.namespace } },
      matchConditions: [{ name: 'controlled-by-the-workload', expression: ownerCel(w) }],
      // Fail open: with the hub down a replacement starts from its image (as without this feature); a hub that
      // answers but cannot decide refuses instead, and the pod's controller tries again.
      failurePolicy: 'Ignore',
      // The answer claims a drain checkpoint on the Karmada control plane; a dry-run create claims nothing.
      sideEffects: 'NoneOnDryRun',
      admissionReviewVersions: ['v1'],
      timeoutSeconds: 10,
      reinvocationPolicy: 'Never',
    })),
  };
}
