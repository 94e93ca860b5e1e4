import {
  API_VERSION,
  type CheckpointRestore,
  type CheckpointRestoreStatus,
  type RestorePhase,
} from '@stateful-migration/api';
import { writeStatus, type EventRecorder, type RestClient, type Result } from '@stateful-migration/kube';
import { restorePath } from './paths.js';
import { alreadySays, failedStatus } from './status.js';

export interface RestoreRecorderOptions {
  client: RestClient;
  events: EventRecorder;
  /** Told of every phase written; a crash-test hook. */
  afterPhaseWritten?: (phase: string) => void;
}

/** What the restore controller records: one status write per step (status.ts says what), Events, and Failed. */
export class RestoreRecorder {
  readonly #o: RestoreRecorderOptions;

  constructor(o: RestoreRecorderOptions) {
    this.#o = o;
  }

  /** One status write, with the resourceVersion read (a 409 reads and asks `next` again). */
  async write(
    r: CheckpointRestore,
    next: (s: CheckpointRestoreStatus) => CheckpointRestoreStatus,
  ): Promise<CheckpointRestore> {
    const updated = await writeStatus<CheckpointRestore, CheckpointRestoreStatus>(
      this.#o.client,
      restorePath(r.metadata.namespace, r.metadata.name),
      (cur) => (cur.metadata.uid !== r.metadata.uid ? undefined : next({ ...(cur.status ?? {}) })),
    );
    if (updated.status?.phase) this.#o.afterPhaseWritten?.(updated.status.phase as RestorePhase);
    return updated;
  }

  event(r: CheckpointRestore, type: 'Normal' | 'Warning', reason: string, message: string): void {
    // In the background (EventRecorder.emit): a reconcile never waits on its Events.
    this.#o.events.emit({ ...r, apiVersion: API_VERSION }, type, reason, message);
  }

  /** Ends the restore Failed; a Warning Event unless status said so already. Nothing more to do: undefined. */
  async fail(r: CheckpointRestore, reason: string, message: string): Promise<Result> {
    const changed = !alreadySays(r.status, 'Failed', message);
    const generation = r.metadata.generation ?? 0;
    const updated = await this.write(r, (s) => failedStatus(s, reason, message, generation, new Date()));
    if (changed) this.event(updated, 'Warning', reason, message);
    return undefined;
  }
}
