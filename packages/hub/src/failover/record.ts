import { isDeepStrictEqual } from 'node:util';
import {
  API_GROUP,
  API_VERSION,
  keepStateSettings,
  PLURAL,
  type CheckpointBackup,
  type CheckpointBackupStatus,
  type FailoverRecord,
} from '@stateful-migration/api';
import { writeStatus, type EventRecorder, type Logger, type RestClient } from '@stateful-migration/kube';
import { nodeView, type KubeNode, type NodeView } from '@stateful-migration/restore';
import { proxyPath, type ResourceBinding } from '../karmada.js';
import { decideFailover, sameMove, type BindingSpec } from './decide.js';
import { rescheduled } from './webhook.js';

export interface FailoverRecorderOptions {
  client: RestClient;
  events: EventRecorder;
  log: Logger;
  /** How long to wait for a member's Nodes through the cluster proxy. @default 5000 */
  proxyTimeoutMs?: number;
  /**
   * How long reading all the targets' Nodes may take, together. The webhook decides when its pod arrives before the
   * controller's record, under the member apiserver's timeoutSeconds (10): past that the apiserver gives up and,
   * failurePolicy Ignore, admits the pod fresh while the record would say restored. The reads run at once and a
   * target not read within the budget is TargetNodesUnknown (its replicas start fresh, and the record says so),
   * leaving the rest of the 10 s for the status write. @default 4000
   */
  nodesBudgetMs?: number;
  /** @default () => new Date() */
  now?: () => Date;
}

const objectPath = (ns: string, name: string) => `/apis/${API_GROUP}/v1/namespaces/${ns}/${PLURAL}/${name}`;

/**
 * Decides a move once and records it (docs/adr/0004): shared by the failover controller and, for pods that reach the
 * webhook before the controller has written the record, by the webhook. The record is written into
 * status.lastFailover with the resourceVersion read; on a 409 the object is read again, and a record that already
 * answers the move (sameMove: the other writer was first, or a hub before a restart) is kept, never decided again:
 * the webhook may already have restored from it. Only the writer that stored the record makes its Event.
 */
export class FailoverRecorder {
  readonly #o: FailoverRecorderOptions;

  constructor(o: FailoverRecorderOptions) {
    this.#o = o;
  }

  /**
   * The record that answers the binding's move, written now if none did yet; undefined when there is no move, or
   * when Karmada's scheduler has not placed the workload anew yet (its next write of the binding brings it back).
   */
  async record(
    b: CheckpointBackup,
    rb: ResourceBinding,
    readyClusters: ReadonlySet<string>,
  ): Promise<FailoverRecord | undefined> {
    const binding: BindingSpec = rb.spec;
    const now = (this.#o.now ?? (() => new Date()))();
    const maxAge = keepStateSettings(b).clusterFailover?.maxAgeSeconds ?? 0;
    const same = (r: FailoverRecord | undefined) => sameMove(r, binding, now, maxAge);
    if (same(b.status?.lastFailover)) return b.status!.lastFailover;
    if (!rescheduled(rb)) return undefined;
    const nodes = await this.#targetNodes(binding);
    let mine: FailoverRecord | undefined;
    const stored = await writeStatus<CheckpointBackup, CheckpointBackupStatus>(
      this.#o.client,
      objectPath(b.metadata.namespace, b.metadata.name),
      (cur) => {
        mine = undefined;
        if (cur.metadata.uid !== b.metadata.uid || cur.metadata.deletionTimestamp) return undefined;
        if (same(cur.status?.lastFailover)) return undefined;
        const d = decideFailover({ backup: cur, binding, nodes, readyClusters, now });
        if (d.kind === 'none') return undefined;
        mine = d.record;
        return { ...(cur.status ?? {}), lastFailover: d.record };
      },
      { current: b },
    );
    const record = stored.status?.lastFailover;
    if (!mine || !isDeepStrictEqual(record, mine)) return same(record) ? record : undefined;
    this.#o.log.info(
      {
        backup: `${b.metadata.namespace}/${b.metadata.name}`,
        from: mine.fromClusters,
        to: mine.toClusters,
        restored: mine.restored,
        startedFresh: mine.startedFresh,
        stateAgeSeconds: mine.stateAgeSeconds,
      },
      'failover decided',
    );
    const fresh = mine.startedFresh > 0 || mine.restored === 0;
    this.#o.events.emit(
      { ...stored, apiVersion: API_VERSION },
      mine.reason || !fresh ? 'Normal' : 'Warning',
      mine.reason ? 'EvictionNotFailover' : fresh ? 'FailoverStartedFresh' : 'FailoverRestored',
      mine.message,
    );
    return mine;
  }

  /**
   * The Nodes of each cluster the workload moves to, read at once within nodesBudgetMs; a cluster whose Nodes cannot
   * be read in time is left out (TargetNodesUnknown).
   */
  async #targetNodes(binding: BindingSpec): Promise<Map<string, NodeView[]>> {
    const evicted = new Set((binding.gracefulEvictionTasks ?? []).map((t) => t.fromCluster));
    const budget = this.#o.nodesBudgetMs ?? 4000;
    const nodes = new Map<string, NodeView[]>();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_r, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${budget} ms`)), budget);
    });
    deadline.catch(() => undefined);
    const read = async (cluster: string) => {
      try {
        const list = await Promise.race([
          this.#o.client.get<{ items: KubeNode[] }>(proxyPath(cluster, '/api/v1/nodes'), {
            timeoutMs: Math.min(this.#o.proxyTimeoutMs ?? 5000, budget),
          }),
          deadline,
        ]);
        nodes.set(cluster, list.items.map(nodeView));
      } catch (err) {
        this.#o.log.warn({ cluster, err: String(err) }, 'cannot read the Nodes of a failover target');
      }
    };
    try {
      await Promise.all(
        (binding.clusters ?? []).filter((c) => !evicted.has(c.name)).map((c) => read(c.name)),
      );
    } finally {
      clearTimeout(timer);
    }
    return nodes;
  }
}
