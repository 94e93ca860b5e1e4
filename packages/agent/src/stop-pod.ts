import { isConflict, isNotFound, type RestClient } from '@stateful-migration/kube';

/** What became of the checkpointed pod when a stopPod run asked to delete it. */
export type PodDeletion =
  | { kind: 'deleted' }
  /** No pod of that name any more. */
  | { kind: 'gone' }
  /** The pod of that name is another one (a controller's replacement): left alone. */
  | { kind: 'replaced' }
  /** The checkpointed pod's uid was never recorded, so it cannot be told from a replacement: left alone. */
  | { kind: 'unknownUid' }
  | { kind: 'failed'; message: string };

/**
 * Deletes the pod that was checkpointed, and only that one: the DELETE carries its uid as a precondition, so a pod a
 * controller made under the same name since (a StatefulSet's web-0 again) gets a 409 from the apiserver instead of
 * being deleted.
 */
export async function deleteCheckpointedPod(
  client: RestClient,
  pod: { namespace: string; name: string; uid?: string },
): Promise<PodDeletion> {
  if (!pod.uid) return { kind: 'unknownUid' };
  try {
    await client.request('DELETE', `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}`, {
      body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: pod.uid } },
    });
    return { kind: 'deleted' };
  } catch (err) {
    if (isNotFound(err)) return { kind: 'gone' };
    if (isConflict(err)) return { kind: 'replaced' };
    return { kind: 'failed', message: err instanceof Error ? err.message : String(err) };
  }
}
