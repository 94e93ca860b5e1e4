/** The parts of any Kubernetes object that the controller runtime reads. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  deletionTimestamp?: string;
  creationTimestamp?: string;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

export interface KubeList<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** The work-queue key of an object: "namespace/name", or "name" when cluster-scoped. */
export function objectKey(obj: KubeObject): string {
  const m = obj.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name ?? ''}` : (m.name ?? '');
}

export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/**
 * The fresher of an informer's copy and a copy this process wrote itself (read-your-writes: a controller that acts
 * again before its watch has delivered its own write must not act on the copy before it, or it repeats a step).
 * resourceVersions are compared as the integers etcd-backed apiservers give; one that is not an integer is opaque,
 * and the informer's copy is taken. No cached copy: the object is gone (or never seen), whatever was written.
 */
export function fresher<T extends KubeObject>(cached: T | undefined, written: T | undefined): T | undefined {
  if (!cached || !written) return cached;
  const a = cached.metadata?.resourceVersion ?? '';
  const b = written.metadata?.resourceVersion ?? '';
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) return cached;
  return BigInt(b) > BigInt(a) ? written : cached;
}
