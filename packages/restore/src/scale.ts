import { proxy } from './paths.js';
import type { SourceStop } from '@stateful-migration/api';

/**
 * Migrate stops the pod of a Deployment or StatefulSet by setting its workload's replicas, and does that through
 * the workload's `scale` subresource, never by patching the workload itself: the rights it needs are then
 * `deployments/scale` and `statefulsets/scale` (get, patch), which can change a replica count and nothing else of
 * a workload (not its pod template, image, service account or volumes). The scale subresource of apps/v1 answers
 * with an autoscaling/v1 Scale.
 */

/** An autoscaling/v1 Scale, as far as Migrate reads it. */
export interface Scale {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  /** autoscaling/v1 omits `replicas` when it is 0 (omitempty). */
  spec?: { replicas?: number };
}

/** What Migrate can scale, and the plural of each kind's REST path. */
const PLURALS: Readonly<Record<string, string>> = { Deployment: 'deployments', StatefulSet: 'statefulsets' };

/** The scale subresource of a Deployment or StatefulSet; any other kind is an error (stopPlan refuses them). */
export function scalePath(namespace: string, workload: { kind: string; name: string }): string {
  const plural = PLURALS[workload.kind];
  if (!plural) throw new Error(`Migrate scales only a Deployment or a StatefulSet, not a ${workload.kind}`);
  return `/apis/apps/v1/namespaces/${namespace}/${plural}/${workload.name}/scale`;
}

/**
 * Where a source workload's scale is read, in order: its template on the Karmada control plane (what Karmada keeps
 * the members in step with), else the member's own workload through the cluster proxy.
 */
export function scaleReads(
  source: { cluster: string; namespace: string },
  workload: { kind: string; name: string },
): { hub: string; member: string } {
  const path = scalePath(source.namespace, workload);
  return { hub: path, member: proxy(source.cluster, path) };
}

/** The replicas a Scale says (0 when autoscaling/v1 omitted the field). */
export function scaleReplicas(scale: Scale): number {
  return scale.spec?.replicas ?? 0;
}

/** One request that sets a workload's replicas through its scale subresource. */
export interface ScaleRequest {
  method: 'PATCH';
  path: string;
  contentType: 'application/merge-patch+json';
  body: { spec: { replicas: number } };
}

/**
 * The request that sets the replicas of a recorded source stop: 0 to stop it, the recorded replicas to bring it
 * back on a rollback. A merge patch of `spec.replicas` of the Scale, where status.sourceStop says the workload is:
 * on the Karmada control plane (`onHub`: Karmada would undo a change made in the member), else in the member through
 * the cluster proxy (Karmada checks `patch` on `clusters/proxy`, the member `patch` on `<kind>s/scale`).
 */
export function scaleRequest(stop: SourceStop, replicas: number): ScaleRequest {
  if (stop.method !== 'Scale' || !stop.workload)
    throw new Error(`source stop of pod ${stop.namespace}/${stop.pod} is not a Scale`);
  if (!Number.isInteger(replicas) || replicas < 0) throw new Error(`cannot scale to ${replicas} replicas`);
  const path = scalePath(stop.namespace, stop.workload);
  return {
    method: 'PATCH',
    path: stop.onHub ? path : proxy(stop.cluster, path),
    contentType: 'application/merge-patch+json',
    body: { spec: { replicas } },
  };
}
