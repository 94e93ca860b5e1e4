import PQueue from 'p-queue';
import {
  podNamespace,
  type CheckpointBackup,
  type CheckpointedPod,
  type CheckpointFile,
} from '@stateful-migration/api';
import { readArchiveInfo } from '@stateful-migration/archive';
import { getOrUndefined, type RestClient } from '@stateful-migration/kube';
import { othersClaims } from './adopt.js';
import type { ArchiveFiles } from './archives.js';
import { checkpointedPod, type PodSpecView } from './checkpointed-pod.js';
import { CheckpointError, type KubeletClient } from './kubelet.js';
import type { RunRecorder } from './recorder.js';
import { checkpointedStatus } from './run-status.js';
import { deleteCheckpointedPod } from './stop-pod.js';

export interface CheckpointStepOptions {
  node: string;
  client: RestClient;
  kubelet: KubeletClient;
  archives: ArchiveFiles;
  record: RunRecorder;
  /** Bounds the checkpoints of the whole node (shared by every object). */
  nodeQueue: PQueue;
  /** Containers of one pod checkpointed at once. */
  podConcurrency: number;
  /** Seconds the runtime may take per checkpoint. */
  checkpointTimeoutSeconds: number;
  /** Every CheckpointBackup cached, for what other objects claim of an unrecorded archive. */
  backups: () => CheckpointBackup[];
  /** Told 'ArchiveWritten' when the kubelet answered; a crash-test hook. */
  afterPhaseWritten?: (phase: string) => void;
}

/**
 * The checkpoint step: each container of the run that has no archive yet is checkpointed through the kubelet (or
 * gets the archive this run wrote before a crash, adopted), in parallel within the node's and the pod's bounds;
 * then Checkpointed is recorded with the archives and the pod as it is now (status.checkpointedPod, for restores),
 * unless that pod is not the one the archives hold (replaced meanwhile): then the run fails PodReplaced. With
 * stopPod, the pod is deleted right then.
 */
export class CheckpointStep {
  readonly #o: CheckpointStepOptions;

  constructor(o: CheckpointStepOptions) {
    this.#o = o;
  }

  async run(b: CheckpointBackup, containers: string[], podUid: string | undefined): Promise<void> {
    const perPod = new PQueue({ concurrency: this.#o.podConcurrency });
    const files = await Promise.all(
      containers.map((c) => perPod.add(() => this.#o.nodeQueue.add(() => this.#one(b, c, podUid)))),
    );
    const record = await this.#checkpointedPod(b);
    const replaced = record && (await this.#replacedDuring(files as CheckpointFile[], podUid, record));
    if (replaced) {
      // Never recorded (stopPod and Migrate delete by the recorded uid), built or pushed as the pod's checkpoint.
      for (const f of files as CheckpointFile[]) this.#o.archives.remove(f.filePath);
      throw new CheckpointError(
        'PodReplaced',
        `pod ${podNamespace(b)}/${b.spec.podRef.name} was replaced during the checkpoint: the archives are of pod ` +
          `uid ${replaced}, the pod of that name now is uid ${record.uid ?? '(none)'}; the replacement is not ` +
          'recorded (nor deleted by stopPod); checkpointing again',
        true,
      );
    }
    await this.#o.record.step(b, 'Checkpointed', (s) =>
      checkpointedStatus(s, containers, files as CheckpointFile[], record),
    );
    // stopPod: the pod stops right after its checkpoint, not once the images are pushed. Whatever it did after the
    // checkpoint would be lost to a restore of it (a migration would show the same counts twice, or lose them), and
    // the archives recorded above are all the run needs now. By the uid recorded, never a replacement; the finish
    // step deletes again (a 404 then) and says what became of the pod, including a deletion that failed here.
    if (b.spec.stopPod && record?.uid)
      await deleteCheckpointedPod(this.#o.client, {
        namespace: podNamespace(b),
        name: b.spec.podRef.name,
        uid: record.uid,
      });
  }

  async #one(b: CheckpointBackup, container: string, podUid: string | undefined): Promise<CheckpointFile> {
    const ns = podNamespace(b);
    const pod = b.spec.podRef.name;
    const run = b.status?.run;
    const adopted =
      run &&
      (await this.#o.archives.unrecorded(
        run,
        container,
        { namespace: ns, name: pod, ...(podUid ? { uid: podUid } : {}) },
        othersClaims(b, this.#o.backups(), container, this.#o.node),
      ));
    if (adopted) return adopted;
    const filePath = await this.#o.kubelet.checkpoint(ns, pod, container, this.#o.checkpointTimeoutSeconds);
    this.#o.afterPhaseWritten?.('ArchiveWritten');
    this.#o.archives.checkKubeletAnswer(filePath, `${ns}/${pod}/${container}`);
    return { containerName: container, filePath, checkpointTime: new Date().toISOString() };
  }

  /**
   * The uid of the pod checkpointed, when the pod read after the kubelet answered (`after`) is another: from the
   * archives' spec.dump where the runtime records it, else the pod read before the checkpoint. Undefined when they
   * agree (or nothing tells).
   */
  async #replacedDuring(
    files: CheckpointFile[],
    before: string | undefined,
    after: CheckpointedPod,
  ): Promise<string | undefined> {
    const inArchives = new Set<string>();
    for (const f of files) {
      const { podUid } = await readArchiveInfo(this.#o.archives.forStep(f, 'record'));
      if (podUid) inArchives.add(podUid);
    }
    const checkpointed = inArchives.size ? [...inArchives] : before ? [before] : [];
    return checkpointed.some((u) => u !== after.uid) ? checkpointed.join(', ') : undefined;
  }

  /** The pod as it is at checkpoint time, for restores (status.checkpointedPod); none if it vanished meanwhile. */
  async #checkpointedPod(b: CheckpointBackup): Promise<CheckpointedPod | undefined> {
    const pod = await getOrUndefined<PodSpecView>(
      this.#o.client,
      `/api/v1/namespaces/${podNamespace(b)}/pods/${b.spec.podRef.name}`,
    );
    return pod && checkpointedPod(pod);
  }
}
