import { API_GROUP, PLURAL, registryCredentials, type CheckpointBackup } from '@stateful-migration/api';
import {
  ANNOTATION,
  coveringBackup,
  drainCheckpointName,
  drainObjects,
  drainPullSecretName,
  gateResponse,
  podRevision,
  gateVerdict,
  type GateResponse,
  type GateVerdict,
} from '@stateful-migration/drain';
import {
  describeError,
  getOrUndefined,
  isAlreadyExists,
  type EventRecorder,
  type Logger,
  type RestClient,
} from '@stateful-migration/kube';
import { backupClusters, ownerWorkload, pullSecret } from '@stateful-migration/restore';
import type { HubCaches } from '../caches.js';
import { CLUSTERS_PATH } from '../karmada.js';

/**
 * The eviction gate's I/O shell (docs/adr/0004, "Drain: an eviction gate"): the `/evict/pods/<cluster>` route of the
 * hub's admission server. For an eviction of a pod whose workload-level backup keeps state on eviction, the first
 * call creates the pod's drain checkpoint on the Karmada control plane (its policy, its pull secret, the one-off
 * CheckpointBackup) and answers 429; later calls answer from that object's aggregated status (evictionVerdict), so a
 * restarted hub, or another replica, answers the same and never takes a second checkpoint. Any failure lets the
 * eviction go (the configuration's failurePolicy Ignore, said here as a warning and an Event): a drain is never
 * blocked by the hub.
 */

export interface EvictionRequest {
  uid: string;
  operation: string;
  namespace?: string;
  /** The pod's name (an Eviction is named after its pod). */
  name?: string;
  subResource?: string;
  dryRun?: boolean;
}

interface MemberPod {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
  };
  spec: { nodeName?: string; containers: { name: string }[] };
  status?: { phase?: string };
}

/** What the gate read for one eviction. */
interface Seen {
  pod: MemberPod;
  /** The name of the pod's drain checkpoint. */
  checkpoint: string;
  /** The backup that keeps the pod's state on eviction, its timeout, and the pod's controller (both or neither). */
  covering?: CheckpointBackup;
  owner?: { kind: string; name: string; uid: string };
  timeoutSeconds?: number;
  /** The CheckpointBackup of the drain checkpoint's name, and its members' results. */
  obj?: CheckpointBackup;
  results: ReturnType<typeof backupClusters>;
}

export interface EvictionGateOptions {
  client: RestClient;
  caches: HubCaches;
  events: EventRecorder;
  log: Logger;
  /** @default () => new Date() */
  now?: () => Date;
}

const group = `/apis/${API_GROUP}/v1`;
/** The claim of a drain checkpoint the pod was evicted without: no replacement ever restores from it. */
export const LEFT_WITHOUT = 'none: the pod was evicted without it';
const proxy = (cluster: string, path: string) =>
  `${CLUSTERS_PATH}/${encodeURIComponent(cluster)}/proxy${path}`;

export class EvictionGate {
  readonly #o: EvictionGateOptions;

  constructor(o: EvictionGateOptions) {
    this.#o = o;
  }

  readonly handle = async (cluster: string, req: EvictionRequest): Promise<GateResponse> => {
    const allow: GateResponse = { uid: req.uid, allowed: true };
    if (req.operation !== 'CREATE' || req.subResource !== 'eviction' || !req.namespace || !req.name)
      return allow;
    if (!this.#o.caches.ready())
      // Just started: "not yet", like any other; the cache fills in seconds.
      return gateResponse(req.uid, {
        kind: 'wait',
        message: 'the hub is starting and has not read the CheckpointBackups yet',
        retryAfterSeconds: 5,
      });
    let covering: CheckpointBackup | undefined;
    try {
      const seen = await this.#read(cluster, req.namespace, req.name);
      if (!seen) return allow;
      covering = seen.covering;
      const verdict = this.#decide(cluster, seen);
      this.#o.log.info(
        { cluster, namespace: req.namespace, pod: req.name, verdict: verdict.kind, dryRun: !!req.dryRun },
        verdict.message,
      );
      if (!req.dryRun) await this.#act(cluster, seen, verdict);
      return gateResponse(req.uid, verdict);
    } catch (err) {
      const message = `pod ${req.namespace}/${req.name} in ${cluster} evicted without its state: the hub could not take its checkpoint (${describeError(err)})`;
      this.#o.log.warn(
        { cluster, namespace: req.namespace, pod: req.name, err: describeError(err) },
        message,
      );
      if (covering && !req.dryRun) this.#o.events.emit(covering, 'Warning', 'EvictedWithoutState', message);
      return { ...allow, warnings: [message] };
    }
  };

  /** The pod (undefined: gone), the backup that covers it, and its drain checkpoint with the members' results. */
  async #read(cluster: string, ns: string, name: string): Promise<Seen | undefined> {
    const pod = await getOrUndefined<MemberPod>(
      this.#o.client,
      proxy(cluster, `/api/v1/namespaces/${ns}/pods/${name}`),
      { timeoutMs: 5000 },
    );
    if (!pod) return undefined;
    const opt = coveringBackup(this.#o.caches.backups.list(), ns, ownerWorkload(pod), cluster);
    const owner = (pod.metadata.ownerReferences ?? []).find((o) => o.controller);
    const checkpoint = drainCheckpointName(pod.metadata.name, pod.metadata.uid);
    const obj = opt
      ? await getOrUndefined<CheckpointBackup>(
          this.#o.client,
          `${group}/namespaces/${ns}/${PLURAL}/${checkpoint}`,
        )
      : undefined;
    const binding = this.#o.caches.bindingOf({ kind: 'CheckpointBackup', name: checkpoint, namespace: ns });
    return {
      pod,
      checkpoint,
      ...(opt && owner ? { covering: opt.object, owner, timeoutSeconds: opt.timeoutSeconds } : {}),
      ...(obj ? { obj, results: backupClusters(obj, binding) } : { results: [] }),
    };
  }

  #decide(cluster: string, seen: Seen): GateVerdict {
    const { pod } = seen;
    return gateVerdict(
      {
        namespace: pod.metadata.namespace,
        name: pod.metadata.name,
        uid: pod.metadata.uid,
        ...(pod.status?.phase ? { phase: pod.status.phase } : {}),
        ...(pod.spec.nodeName ? { nodeName: pod.spec.nodeName } : {}),
        deleting: !!pod.metadata.deletionTimestamp,
      },
      seen.covering
        ? { backup: seen.covering.metadata.name, timeoutSeconds: seen.timeoutSeconds! }
        : undefined,
      seen.obj,
      seen.results,
      cluster,
      pod.spec.containers.map((c) => c.name),
      (this.#o.now ?? (() => new Date()))(),
    );
  }

  /** What a verdict makes (never on a dry run): the drain checkpoint, a spent mark, the Events. */
  async #act(cluster: string, seen: Seen, verdict: GateVerdict): Promise<void> {
    const covering = seen.covering;
    if (!covering) return;
    if (verdict.kind === 'start') {
      await this.#start(covering, seen.pod, seen.owner!, cluster, seen.checkpoint);
      this.#o.events.emit(covering, 'Normal', 'DrainCheckpoint', verdict.message);
    } else if (verdict.kind === 'allow' && verdict.reason === 'CheckpointPushed')
      this.#o.events.emit(covering, 'Normal', 'EvictedWithState', verdict.message);
    else if (verdict.kind === 'proceedWithout') {
      if (verdict.reason !== 'CheckpointNameTaken')
        await this.#spend(seen.obj!, `${LEFT_WITHOUT}: ${verdict.reason}`);
      this.#o.events.emit(covering, 'Warning', 'EvictedWithoutState', verdict.message);
    }
  }

  /**
   * Creates the drain checkpoint: its policy first (Karmada must find it when it first sees the backup), the pull
   * secret the replacement pulls with, then the backup. Each create tolerates "already exists": a crash between two
   * of them is finished by the next call, which finds no backup yet and starts again.
   */
  async #start(
    covering: CheckpointBackup,
    pod: MemberPod,
    owner: { kind: string; name: string; uid: string },
    cluster: string,
    name: string,
  ): Promise<void> {
    const ns = pod.metadata.namespace;
    const { backup, policy } = drainObjects(
      covering,
      {
        namespace: ns,
        name: pod.metadata.name,
        uid: pod.metadata.uid,
        owner: { kind: owner.kind, name: owner.name, uid: owner.uid },
        ...(podRevision(owner.kind, pod.metadata.labels)
          ? { revision: podRevision(owner.kind, pod.metadata.labels)! }
          : {}),
        containers: pod.spec.containers.map((c) => c.name),
      },
      cluster,
      name,
    );
    await this.#create(`/apis/policy.karmada.io/v1alpha1/namespaces/${ns}/propagationpolicies`, policy);
    const creds = registryCredentials(covering, []);
    if (covering.spec.registry && creds.kind === 'own') {
      const s = await getOrUndefined<{ data?: Record<string, string> }>(
        this.#o.client,
        `/api/v1/namespaces/${creds.secret.namespace}/secrets/${creds.secret.name}`,
      );
      const dec = (k: string) => Buffer.from(s?.data?.[k] ?? '', 'base64').toString('utf8');
      if (dec('username') && dec('password'))
        await this.#create(
          `/api/v1/namespaces/${ns}/secrets`,
          pullSecret(
            drainPullSecretName(name),
            ns,
            covering.spec.registry.url,
            { username: dec('username'), password: dec('password') },
            backup.metadata.labels,
            backup.metadata.ownerReferences,
          ),
        );
    }
    await this.#create(`${group}/namespaces/${ns}/${PLURAL}`, backup);
  }

  /**
   * Marks a drain checkpoint the pod left without as claimed, before the eviction goes ahead: a push that ends after
   * the replacement started fresh must never restore a later pod of the same name from that older state.
   */
  async #spend(obj: CheckpointBackup, why: string): Promise<void> {
    if (obj.metadata.annotations?.[ANNOTATION.claimedBy]) return;
    await this.#o.client.request(
      'PATCH',
      `${group}/namespaces/${obj.metadata.namespace}/${PLURAL}/${obj.metadata.name}`,
      {
        body: { metadata: { annotations: { [ANNOTATION.claimedBy]: why } } },
      },
    );
  }

  async #create(path: string, body: unknown): Promise<void> {
    await this.#o.client.request('POST', path, { body }).catch((err: unknown) => {
      if (!isAlreadyExists(err)) throw err;
    });
  }
}
