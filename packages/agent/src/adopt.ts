import { isFinished, podNamespace, type CheckpointBackup, podName } from '@stateful-migration/api';

/** An archive found in the checkpoint directory, read from its spec.dump and config.dump. */
export interface FoundArchive {
  filePath: string;
  namespace: string;
  podName: string;
  containerName: string;
  /** '' when the runtime did not record it. */
  podUid: string;
  /** The runtime's checkpointedTime ('' if none). */
  checkpointedTime: string;
  /** The file's modification time. */
  mtime: string;
}

export interface AdoptInput {
  found: FoundArchive[];
  container: string;
  /** The pod this run checkpoints, as read now. */
  pod: { namespace: string; name: string; uid?: string };
  runStartedAt: string;
  now: Date;
  /** Archives recorded in the status of other CheckpointBackups. */
  claimed: ReadonlySet<string>;
  /** Whether another object's run of the same pod and container is in progress on this node. */
  othersRunning: boolean;
}

/**
 * The archive a run adopts after a crash between the kubelet's answer and the status write that records it, or
 * undefined (then it takes a fresh checkpoint and leaves the archive to retention). The kubelet's answer (the path)
 * was lost with the process, so ownership is inferred, and only where nothing else could own it:
 * - the run's pod, namespace and container, from spec.dump (file names are ambiguous), and the same incarnation of
 *   the pod when the runtime recorded its uid (a StatefulSet's web-0 comes back with another one);
 * - taken while this run was in progress: the runtime's checkpointedTime (the file's mtime only when the runtime wrote
 *   none) between the run's start and now;
 * - not recorded by another CheckpointBackup, and no other object's run of this container in progress on the node
 *   (its unrecorded archive would look the same);
 * - exactly one such archive: two mean another writer (a tool, a user) that nothing can tell from this run.
 */
export function adoptable(i: AdoptInput): FoundArchive | undefined {
  if (i.othersRunning) return undefined;
  const since = Date.parse(i.runStartedAt);
  const until = i.now.getTime();
  const mine = i.found.filter((a) => {
    if (a.namespace !== i.pod.namespace || a.podName !== i.pod.name || a.containerName !== i.container)
      return false;
    if (a.podUid && i.pod.uid && a.podUid !== i.pod.uid) return false;
    if (i.claimed.has(a.filePath)) return false;
    const taken = Date.parse(a.checkpointedTime || a.mtime);
    return taken >= since && taken <= until;
  });
  return mine.length === 1 ? mine[0] : undefined;
}

/**
 * What other CheckpointBackups claim of a container's archives on this node (AdoptInput's claimed and
 * othersRunning), from every object cached: the archives they recorded, and whether one of them runs a checkpoint
 * of the same container of the same pod here now.
 */
export function othersClaims(
  b: CheckpointBackup,
  all: readonly CheckpointBackup[],
  container: string,
  node: string,
): Pick<AdoptInput, 'claimed' | 'othersRunning'> {
  const others = all.filter((x) => x.metadata.uid !== b.metadata.uid);
  const ns = podNamespace(b);
  return {
    claimed: new Set(others.flatMap((x) => (x.status?.checkpointFiles ?? []).map((f) => f.filePath))),
    othersRunning: others.some(
      (x) =>
        x.status?.run?.node === node &&
        !isFinished(x.status.phase) &&
        podNamespace(x) === ns &&
        podName(x) === podName(b) &&
        x.status.run.containers.includes(container),
    ),
  };
}
