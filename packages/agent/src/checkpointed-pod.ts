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
 * ports, env (valueFrom references stay references: a secret's value never reaches status), mounts and
 * securityContext, and the pod's volumes and labels. Every container is kept, checkpointed or not: a restore needs
 * an image for each, and refuses when one has none.
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
      ...copy('env', c.env as Record<string, unknown>[] | undefined),
      ...copy('volumeMounts', c.volumeMounts as Mount[] | undefined),
      ...copy('securityContext', c.securityContext as Record<string, unknown> | undefined),
    })),
    ...copy('volumes', pod.spec.volumes),
  };
}

/** `{ key: deep copy of value }` when there is a value, else nothing, so absent fields stay absent. */
function copy<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: structuredClone(value) } as Record<K, V>);
}
