import { podNamespace, type CheckpointBackup, podName } from '@stateful-migration/api';
import type { RestClient } from '@stateful-migration/kube';
import type { ArchiveFiles } from './archives.js';
import type { AgentMetrics } from './metrics.js';
import { finishedRun } from './plan.js';
import type { RunRecorder } from './recorder.js';
import { finishedStatus } from './run-status.js';
import { deleteCheckpointedPod } from './stop-pod.js';

export interface FinishStepOptions {
  client: RestClient;
  archives: ArchiveFiles;
  record: RunRecorder;
  metrics: AgentMetrics;
}

/**
 * The finish step, once every image is built (and pushed): the run's archives are deleted, the checkpointed pod too
 * when spec.stopPod asks (by uid: never a replacement), and the run ends Completed, CompletedPodDeleted or
 * CompletedWithError (finishedRun says which).
 */
export class FinishStep {
  readonly #o: FinishStepOptions;

  constructor(o: FinishStepOptions) {
    this.#o = o;
  }

  async run(b: CheckpointBackup): Promise<void> {
    for (const f of b.status?.checkpointFiles ?? []) this.#o.archives.remove(f.filePath);
    const run = b.status!.run!;
    const pod = { namespace: podNamespace(b), name: podName(b) };
    // The pod recorded at checkpoint time, by uid: never the replacement a controller made under the same name.
    const deletion = b.spec.stopPod
      ? await deleteCheckpointedPod(this.#o.client, {
          ...pod,
          ...(b.status?.checkpointedPod?.uid ? { uid: b.status.checkpointedPod.uid } : {}),
        })
      : undefined;
    const { phase, message } = finishedRun({
      containers: run.containers,
      pod: `${pod.namespace}/${pod.name}`,
      ...(deletion ? { deletion } : {}),
    });
    const generation = b.metadata.generation ?? 0;
    const updated = await this.#o.record.write(b, (s) =>
      finishedStatus(s, { run, phase, message, generation }),
    );
    this.#o.metrics.runs.inc({ phase });
    this.#o.record.event(updated, phase === 'CompletedWithError' ? 'Warning' : 'Normal', phase, message);
  }
}
