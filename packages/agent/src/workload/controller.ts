import { isDeepStrictEqual } from 'node:util';
import { refusal, type CheckpointBackup } from '@stateful-migration/api';
import {
  deleteIfExists,
  describeError,
  isAlreadyExists,
  isConflict,
  type Logger,
  type RestClient,
  type Result,
} from '@stateful-migration/kube';
import { objectPath, type RunRecorder } from '../recorder.js';
import {
  belongsTo,
  childDrift,
  childName,
  desiredChild,
  isChildOf,
  staleChildren,
  workloadStatus,
  type MemberPod,
} from './replicas.js';

export interface WorkloadBackupsOptions {
  node: string;
  client: RestClient;
  log: Logger;
  record: RunRecorder;
  /** The pods of this node (the agent's informer). */
  nodePods: () => MemberPod[];
  /** Every CheckpointBackup of the cluster (the agent's informer). */
  backups: () => CheckpointBackup[];
  /** Whether this agent is the one per cluster that answers for what is on no node. */
  reportsOrphans: () => Promise<boolean>;
  defaultSecretRegistries: string[];
}

/** How often the cluster's coordinating agent looks again at a workload whose pods may change on other nodes. */
export const WORKLOAD_RESYNC_MS = 60_000;

/**
 * A workload-level CheckpointBackup in one member cluster. Every node's agent makes the child CheckpointBackup of
 * each of the workload's pods on its node (found in its own pod cache), which that agent then checkpoints like any
 * single-pod object: so every tick runs on all nodes at once. The one agent that answers for orphans coordinates:
 * it keeps the children's spec and pins in step with the parent, removes those of gone pods beyond what is kept,
 * and writes the parent's status from theirs (replicaStatus per pod), which Karmada reflects to the hub.
 */
export class WorkloadBackups {
  readonly #o: WorkloadBackupsOptions;

  constructor(o: WorkloadBackupsOptions) {
    this.#o = o;
  }

  async reconcile(parent: CheckpointBackup): Promise<Result> {
    const coordinator = await this.#o.reportsOrphans();
    const refused = refusal(parent, this.#o.defaultSecretRegistries);
    const cached = this.#o.backups().filter((c) => isChildOf(c, parent));
    if (refused) {
      if (!coordinator) return undefined;
      // Children made before the edit would go on running the spec the tenant replaced, unseen: they follow the
      // parent's spec here too, which each child's agent then refuses itself (before acting on it). None is created.
      await this.#followParent(parent, cached);
      return this.#o.record.fail(parent, refused.reason, refused.message, false);
    }
    const created = await this.#createForNodePods(parent, cached);
    if (!coordinator) return undefined;
    // The cache has not seen this pass's children yet; the status counts them already.
    await this.#coordinate(parent, [...cached, ...created]);
    return { requeueAfterMs: WORKLOAD_RESYNC_MS };
  }

  /** The children of the workload's pods on this node that do not exist yet; returns those it created. */
  async #createForNodePods(
    parent: CheckpointBackup,
    children: CheckpointBackup[],
  ): Promise<CheckpointBackup[]> {
    const created: CheckpointBackup[] = [];
    const workload = this.#workload(parent);
    const have = new Set(children.map((c) => c.metadata.name));
    const pods = this.#o
      .nodePods()
      .filter((p) => !p.metadata.deletionTimestamp && belongsTo(p, workload))
      .filter((p) => !have.has(childName(parent.metadata.name, p.metadata.name)));
    for (const p of pods) {
      const child = desiredChild(parent, p.metadata.name);
      const path = objectPath(child.metadata.namespace, '').replace(/\/$/, '');
      try {
        created.push(await this.#o.client.request<CheckpointBackup>('POST', path, { body: child }));
        this.#o.log.info({ backup: key(parent), pod: p.metadata.name }, 'replica CheckpointBackup created');
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        // Made by another pass (the cache lags), or a name taken by an object that is not this parent's child.
        await this.#nameTaken(parent, child.metadata.name, p.metadata.name);
      }
    }
    return created;
  }

  async #nameTaken(parent: CheckpointBackup, name: string, pod: string): Promise<void> {
    const existing = await this.#o.client.get<CheckpointBackup>(objectPath(parent.metadata.namespace, name));
    if (isChildOf(existing, parent)) return;
    this.#o.record.event(
      parent,
      'Warning',
      'ReplicaNameTaken',
      `pod ${pod} is not checkpointed: CheckpointBackup ${name} exists and is not this object's; rename or delete it`,
    );
  }

  /** Children in step with the parent, gone pods' children beyond the kept ones removed, then the parent's status. */
  async #coordinate(parent: CheckpointBackup, children: CheckpointBackup[]): Promise<void> {
    const { namespace } = parent.metadata;
    const workload = this.#workload(parent);
    // One fresh LIST of the namespace's pods: the coordinator's own cache holds only its node's.
    const list = await this.#o.client.get<{ items: MemberPod[] }>(`/api/v1/namespaces/${namespace}/pods`);
    const pods = new Map(list.items.filter((p) => belongsTo(p, workload)).map((p) => [p.metadata.name, p]));
    await this.#followParent(parent, children);
    const stale = staleChildren(children, pods);
    for (const c of stale) {
      await deleteIfExists(this.#o.client, objectPath(namespace, c.metadata.name));
      this.#o.log.info(
        { backup: key(parent), child: c.metadata.name },
        'gone replica CheckpointBackup deleted',
      );
    }
    const kept = children.filter((c) => !stale.includes(c));
    await this.#o.record
      .write(
        parent,
        (s) => {
          const next = {
            ...s,
            ...workloadStatus({ parent: { ...parent, status: s }, children: kept, pods }),
          };
          return isDeepStrictEqual(next, s) ? undefined : next;
        },
        { phase: false },
      )
      .catch((err: unknown) => {
        throw new Error(`writing the status of ${key(parent)}: ${describeError(err)}`);
      });
  }

  /** Each child's spec and pins made the parent's (childDrift), with the resourceVersion the cache had. */
  async #followParent(parent: CheckpointBackup, children: CheckpointBackup[]): Promise<void> {
    const { namespace } = parent.metadata;
    for (const c of children) {
      const patch = childDrift(c, parent);
      if (!patch) continue;
      try {
        await this.#o.client.request('PATCH', objectPath(namespace, c.metadata.name), {
          body: { ...patch, metadata: { ...patch.metadata, resourceVersion: c.metadata.resourceVersion } },
        });
      } catch (err) {
        // A newer child than the cache had: its event brings this parent back.
        if (!isConflict(err)) throw err;
      }
    }
  }

  #workload(parent: CheckpointBackup): { kind: string; name: string; namespace: string } {
    const r = parent.spec.resourceRef;
    return { kind: r.kind, name: r.name, namespace: parent.metadata.namespace };
  }
}

const key = (b: CheckpointBackup) => `${b.metadata.namespace}/${b.metadata.name}`;
