import {
  API_GROUP,
  API_VERSION,
  PLURAL,
  podNamespace,
  type CheckpointBackup,
  type CheckpointBackupStatus,
  podName,
} from '@stateful-migration/api';
import {
  fresher,
  OwnWrites,
  writeStatus,
  type EventRecorder,
  type RestClient,
  type Result,
} from '@stateful-migration/kube';
import type { AgentMetrics } from './metrics.js';
import { anotherNodesLiveRun, comeBackAfterFailure, failedStatus } from './plan.js';
import { startedStatus, waiting } from './run-status.js';

export interface RunRecorderOptions {
  node: string;
  client: RestClient;
  events: EventRecorder;
  metrics: AgentMetrics;
  /** Failed attempts of an "immediately" run before it stays Failed. */
  maxAttempts: number;
  /** Told of every phase written; a crash-test hook. */
  afterPhaseWritten?: (phase: string) => void;
}

export const objectPath = (ns: string, name: string): string =>
  `/apis/${API_GROUP}/v1/namespaces/${ns}/${PLURAL}/${name}`;

/**
 * What the agent records of a run: one status write per step (with the resourceVersion read; run-status.ts says
 * what), Events, and the steps that only record: start, wait and fail.
 */
export class RunRecorder {
  readonly #o: RunRecorderOptions;
  /**
   * The object as this agent last wrote it, until its watch delivers that write (`seen`): reconciles read the
   * informer's copy, and the next step must start from this one, not from the copy before it.
   */
  readonly #written = new OwnWrites<CheckpointBackup>();

  constructor(o: RunRecorderOptions) {
    this.#o = o;
  }

  /** The freshest copy known of an object: the informer's `cached`, or this agent's own later write. */
  freshest(key: string, cached: CheckpointBackup | undefined): CheckpointBackup | undefined {
    return this.#written.freshest(key, cached);
  }

  /** The informer's copy changed (or went): a write of ours it has reached is no longer needed. */
  seen(key: string, cached: CheckpointBackup | undefined): void {
    this.#written.seen(key, cached);
  }

  /** One status write; `phase: false` for writes that record no phase (retention), so the crash hook ignores them. */
  async write(
    b: CheckpointBackup,
    next: (s: CheckpointBackupStatus, cur: CheckpointBackup) => CheckpointBackupStatus | undefined,
    { phase = true } = {},
  ): Promise<CheckpointBackup> {
    const key = `${b.metadata.namespace}/${b.metadata.name}`;
    // The first try starts from the freshest copy at hand (no GET); a 409 reads the object and asks again.
    const current = this.#written.freshest(key, b) ?? b;
    const updated = await writeStatus<CheckpointBackup, CheckpointBackupStatus>(
      this.#o.client,
      objectPath(b.metadata.namespace, b.metadata.name),
      (cur) => (cur.metadata.uid !== b.metadata.uid ? undefined : next({ ...(cur.status ?? {}) }, cur)),
      current.metadata.resourceVersion ? { current } : {},
    );
    if (updated.metadata.uid === b.metadata.uid && fresher(current, updated) === updated)
      this.#written.wrote(key, updated);
    if (phase && updated.status?.phase) this.#o.afterPhaseWritten?.(updated.status.phase);
    return updated;
  }

  event(b: CheckpointBackup, type: 'Normal' | 'Warning', reason: string, message: string): void {
    // In the background (EventRecorder.emit): a reconcile never waits on its Events.
    this.#o.events.emit({ ...b, apiVersion: API_VERSION }, type, reason, message);
  }

  /** A write, then an Event whose message is the status message written. */
  async step(
    b: CheckpointBackup,
    reason: string,
    next: (s: CheckpointBackupStatus) => CheckpointBackupStatus,
  ): Promise<CheckpointBackup> {
    const updated = await this.write(b, next);
    this.event(updated, 'Normal', reason, updated.status?.message ?? '');
    return updated;
  }

  /** Begins a run: Checkpointing, with a new status.run. */
  async start(b: CheckpointBackup, containers: string[], tick?: Date, next?: Date): Promise<Result> {
    const i = {
      containers,
      pod: `${podNamespace(b)}/${podName(b)}`,
      node: this.#o.node,
      generation: b.metadata.generation ?? 0,
      now: new Date(),
      ...(tick ? { tick } : {}),
      ...(next ? { next } : {}),
    };
    await this.step(b, 'Checkpointing', (s) => startedStatus(s, i));
    return { requeueAfterMs: 0 };
  }

  /** Nothing due: records a cron object's next tick when status says otherwise, and comes back then. */
  async wait(b: CheckpointBackup, next: Date | undefined): Promise<Result> {
    const w = waiting(b, next, new Date());
    if (w.record) await this.write(b, (s) => ({ ...s, ...w.record }));
    return w.requeueAfterMs === undefined ? undefined : { requeueAfterMs: w.requeueAfterMs };
  }

  /** Ends the run (or the object) Failed, once per failure (failedStatus), and says when to look again. */
  async fail(b: CheckpointBackup, reason: string, message: string, retry: boolean): Promise<Result> {
    const generation = b.metadata.generation ?? 0;
    let failures = 0;
    let wrote = false;
    const updated = await this.write(b, (s) => {
      // Decided on a copy read before: the pod's node may have started a run since (then a 409 brings us here).
      if (anotherNodesLiveRun(s, this.#o.node, new Date())) return undefined;
      const next = failedStatus(s, { reason, message, retry, generation });
      wrote = next !== undefined;
      failures = (next ?? s).run?.failures ?? 0;
      return next;
    });
    // Recorded already: no write (which would wake the informer for another pass) and no Event.
    if (wrote) {
      this.#o.metrics.failures.inc({ reason });
      this.event(updated, 'Warning', reason, message);
    }
    const ms = comeBackAfterFailure({
      cron: b.spec.schedule.trim() !== 'immediately',
      // A failed stopPod run is never retried (planImmediately): nothing to come back for.
      retry: retry && !b.spec.stopPod,
      failures,
      maxAttempts: this.#o.maxAttempts,
      nextScheduledTime: b.status?.nextScheduledTime,
      now: new Date(),
    });
    return ms === undefined ? undefined : { requeueAfterMs: ms };
  }
}
