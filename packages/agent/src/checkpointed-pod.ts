import type { CheckpointedContainer, CheckpointedPod } from '@stateful-migration/api';

/** The parts of a pod's spec that a restore needs; the rest of the pod is not read. */
export interface PodSpecView {
  metadata: { name: string; namespace: string; uid?: string; labels?: Record<string, string> };
  spec: {
    nodeName?: string;
    serviceAccountName?: string;
    containers: ({ name: string; image: string } & Record<string, unknown>)[];
    volumes?: Record<string, unknown>[];
  };
}

type Mount = NonNullable<CheckpointedContainer['volumeMounts']>[number];

/**
 * What restore needs, copied from the pod spec at checkpoint time: each checkpointed container's original image,
 * ports, env (names and valueFrom references only, see envNames), mounts and securityContext, and the pod's volumes
 * and labels. Every container is kept, checkpointed or not: a restore needs an image for each, and refuses when one
 * has none.
 */
export function checkpointedPod(pod: PodSpecView): CheckpointedPod {
  const m = pod.metadata;
  return {
    name: m.name,
    namespace: m.namespace,
    ...(m.uid ? { uid: m.uid } : {}),
    ...(pod.spec.nodeName ? { node: pod.spec.nodeName } : {}),
    ...(m.labels ? { labels: { ...m.labels } } : {}),
    ...(pod.spec.serviceAccountName ? { serviceAccountName: pod.spec.serviceAccountName } : {}),
    containers: pod.spec.containers.map((c) => ({
      name: c.name,
      image: c.image,
      ...copy('ports', c.ports as Record<string, unknown>[] | undefined),
      ...copy('env', envNames(c.env as Record<string, unknown>[] | undefined)),
      ...copy('volumeMounts', c.volumeMounts as Mount[] | undefined),
      ...copy('securityContext', c.securityContext as Record<string, unknown> | undefined),
    })),
    ...copy('volumes', pod.spec.volumes),
  };
}

/**
 * A container's env as status may carry it: each variable's name, and its valueFrom reference if it has one; never a
 * literal value (issue 11). Status travels to the Karmada control plane, into the ResourceBinding's aggregatedStatus
 * and the hub object's status.clusters[], read by whoever may read those, so a password written as `value:` in a pod
 * spec must not follow it there. A restore does not need the values: CRI-O restores the process with the environment
 * it had in memory (docs/adr/0002-env-of-restored-pods.md).
 */
export function envNames(env: Record<string, unknown>[] | undefined): Record<string, unknown>[] | undefined {
  return env?.map((e) => ({
    name: e.name,
    ...(e.valueFrom !== undefined ? { valueFrom: e.valueFrom } : {}),
  }));
}

/** `{ key: deep copy of value }` when there is a value, else nothing, so absent fields stay absent. */
function copy<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: structuredClone(value) } as Record<K, V>);
}
