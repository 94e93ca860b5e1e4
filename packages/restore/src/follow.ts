import type { CheckpointRestore } from '@stateful-migration/api';
import { getOrUndefined, type RestClient, type Result } from '@stateful-migration/kube';
import { bindingPath, podPath, proxy } from './paths.js';
import { nextPhase, type ObservedPod } from './phase.js';
import type { RestoreRecorder } from './recorder.js';
import { changedStatus, changeEvent } from './status.js';
import { notMine, RestoreRefused, type Binding, type Meta, type SubmitStep } from './submit.js';

export interface FollowStepOptions {
  client: RestClient;
  record: RestoreRecorder;
  submit: SubmitStep;
  /** How often a restore waiting for its pull secret in the target looks again. */
  pollMs: number;
  /**
   * How long a restore whose pod has not changed waits before it looks again anyway: the restored pods' informer
   * (RestoreController) wakes it at every change of its pod, so this is a safety net (and how a timeout is noticed
   * when nothing happens). @default pollMs
   */
  followMs?: number;
  /** spec.timeoutSeconds when unset. */
  defaultTimeoutSeconds: number;
}

/**
 * RestoreSubmitted / RestoreInProgress -> Restored | Failed: the restored pod's status, as Karmada reflects it from
 * the target cluster, decides (nextPhase); each change of the pod wakes the restore (no polling). A pod not yet on the hub (waiting for its pull secret in the target, or
 * a controller that died before creating it) is submitted again from what status recorded.
 */
export class FollowStep {
  readonly #o: FollowStepOptions;

  constructor(o: FollowStepOptions) {
    this.#o = o;
  }

  async run(r: CheckpointRestore): Promise<Result> {
    const s = r.status!;
    const target = s.restoredPod!;
    const onHub = await getOrUndefined<Meta>(this.#o.client, podPath(target.namespace, target.name));
    const taken = onHub && notMine(r, onHub);
    if (taken) return this.#o.record.fail(r, 'PodNameTaken', taken);
    // Just created: make sure the pod owns its pull secret and policy (a controller may have died in between).
    if (onHub && s.phase === 'RestoreSubmitted') await this.#adopt(r, onHub);
    if (!onHub) {
      const waiting = await this.#resubmit(r);
      if (waiting) return waiting.stop;
    }
    const observed = await this.observe(target.namespace, target.name, target.cluster);
    const change = nextPhase({ status: s, pod: observed, now: new Date(), timeoutSeconds: this.#timeout(r) });
    if (!change) return { requeueAfterMs: this.#o.followMs ?? this.#o.pollMs };
    const node =
      change.phase === 'Restored'
        ? await this.#nodeOf(target.cluster, target.namespace, target.name)
        : undefined;
    const i = {
      mode: r.spec.mode ?? 'Restore',
      generation: r.metadata.generation ?? 0,
      now: new Date(),
      ...(node ? { node } : {}),
    };
    const updated = await this.#o.record.write(r, (cur) => changedStatus(cur, change, i));
    const e = changeEvent(change);
    this.#o.record.event(updated, e.type, e.reason, change.message);
    return change.phase === 'Failed' ? undefined : { requeueAfterMs: 0 };
  }

  /** Makes the pod this restore created the owner of its pull secret and policy, and records its uid. */
  async #adopt(r: CheckpointRestore, pod: Meta): Promise<void> {
    const uid = pod.metadata.uid ?? '';
    await this.#o.submit.adopt(r, r.status!.restoredPod!.namespace, { name: pod.metadata.name, uid });
    await this.#o.submit.recordPodUid(r, uid);
  }

  /**
   * Submits the same pod again, with the images and target recorded in status. Returns what to return from the
   * reconcile while the pod is not created (or when the restore failed), undefined once the pod exists.
   */
  async #resubmit(r: CheckpointRestore): Promise<{ stop: Result } | undefined> {
    const s = r.status!;
    const target = s.restoredPod!;
    const pinned: CheckpointRestore = {
      ...r,
      spec: { ...r.spec, images: s.images ?? [], targetCluster: target.cluster, placement: undefined },
    };
    const { plan, backup } = await this.#o.submit.plan(pinned);
    if (plan.kind !== 'ok') return this.#failed(r, plan.reason, plan.message);
    let created: boolean;
    try {
      created = await this.#o.submit.submit(r, plan.plan, backup!);
    } catch (err) {
      if (err instanceof RestoreRefused) return this.#failed(r, err.reason, err.message);
      throw err;
    }
    if (created) return undefined;
    const timeout = nextPhase({
      status: s,
      pod: undefined,
      now: new Date(),
      timeoutSeconds: this.#timeout(r),
    });
    if (timeout)
      return this.#failed(
        r,
        timeout.reason,
        `${timeout.message}; the pull secret never reached ${target.cluster}`,
      );
    const message = `waiting for the registry pull secret to reach ${target.cluster}`;
    if (s.message !== message) await this.#o.record.write(r, (cur) => ({ ...cur, message }));
    return { stop: { requeueAfterMs: this.#o.pollMs } };
  }

  async #failed(r: CheckpointRestore, reason: string, message: string): Promise<{ stop: Result }> {
    return { stop: await this.#o.record.fail(r, reason, message) };
  }

  #timeout(r: CheckpointRestore): number {
    return r.spec.timeoutSeconds ?? this.#o.defaultTimeoutSeconds;
  }

  /** The restored pod as Karmada reflects it from the target cluster (its ResourceBinding's aggregatedStatus). */
  async observe(ns: string, pod: string, cluster: string): Promise<ObservedPod | undefined> {
    const rb = await getOrUndefined<Binding>(this.#o.client, bindingPath(ns, `${pod}-pod`));
    const item = rb?.status?.aggregatedStatus?.find((a) => a.clusterName === cluster);
    if (!item) return undefined;
    return {
      ...(item.applied !== undefined ? { applied: item.applied } : {}),
      ...(item.appliedMessage ? { appliedMessage: item.appliedMessage } : {}),
      ...(item.status ? { status: item.status } : {}),
    };
  }

  /** The node the member scheduled the restored pod on, through Karmada's cluster proxy (best effort). */
  async #nodeOf(cluster: string, ns: string, pod: string): Promise<string | undefined> {
    try {
      const p = await this.#o.client.get<{ spec?: { nodeName?: string } }>(proxy(cluster, podPath(ns, pod)));
      return p.spec?.nodeName;
    } catch {
      return undefined;
    }
  }
}
