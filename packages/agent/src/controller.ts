import PQueue from 'p-queue';
import {
  API_GROUP,
  PLURAL,
  pinnedImages,
  isWorkloadBackup,
  podNamespace,
  refusal,
  type CheckpointBackup,
  type RetentionPolicy,
  podName,
} from '@stateful-migration/api';
import {
  addFinalizer,
  EventRecorder,
  getOrUndefined,
  Informer,
  releaseFinalizers,
  restListWatch,
  WorkQueue,
  type Logger,
  type RestClient,
  type Result,
} from '@stateful-migration/kube';
import type { RegistryTimeouts } from '@stateful-migration/registry';
import { ArchiveFiles } from './archives.js';
import { CheckpointStep } from './checkpoint-step.js';
import { FinishStep } from './finish-step.js';
import type { BuildahStorage } from './image.js';
import { ImageSteps } from './image-steps.js';
import { CheckpointError, type KubeletClient } from './kubelet.js';
import type { AgentMetrics } from './metrics.js';
import {
  answersForOrphans,
  concernsNode,
  plan,
  staleNodeFinalizers,
  type Action,
  type PodView,
} from './plan.js';
import { objectPath, RunRecorder } from './recorder.js';
import { RetentionSweeper } from './retention-sweep.js';
import { stepFailure } from './run-status.js';
import { WorkloadBackups } from './workload/controller.js';
import { belongsTo, parentKey, type MemberPod } from './workload/replicas.js';

export interface AgentOptions {
  node: string;
  client: RestClient;
  kubelet: KubeletClient;
  log: Logger;
  metrics: AgentMetrics;
  storage: BuildahStorage;
  /** CA bundle for registries with private CAs. */
  registryCa?: Buffer;
  /**
   * By registry host (normalHost): the hosts of its token service, which may receive its credentials
   * (--registry-token-host). Any other host never does. @default none
   */
  registryTokenHosts?: Record<string, string[]>;
  /** Bounds on every registry request. @default REGISTRY_TIMEOUTS (60 s idle, 120 s per answer) */
  registryTimeouts?: Partial<RegistryTimeouts>;
  /** Node-wide limit of concurrent checkpoints. @default 2 */
  nodeConcurrency?: number;
  /** Containers of one pod checkpointed at once. @default 4 */
  podConcurrency?: number;
  /** Seconds the runtime may take per checkpoint. @default 120 */
  checkpointTimeoutSeconds?: number;
  /** @default 5 */
  maxAttempts?: number;
  /** Where the kubelet writes archives on this node. @default /var/lib/kubelet/checkpoints */
  checkpointDir?: string;
  /** The agent-wide retention policy; each object's spec.retention wins over it for its pod. */
  retention?: RetentionPolicy;
  /** Period of the retention sweep (it also runs after every checkpoint and on pod deletion). @default 300000 */
  retentionIntervalMs?: number;
  /**
   * The registry hosts the platform's default secret (stateful-migration/registry-credentials) is for; an object
   * without secretRef that pushes anywhere else is refused. @default [] (the default secret is never used)
   */
  defaultSecretRegistries?: string[];
  /**
   * Told of every phase the agent records, of 'ArchiveWritten' when the kubelet answered, and of 'RetentionDeleted'
   * after each retention deletion; a crash-test hook.
   */
  afterPhaseWritten?: (phase: string) => void;
}

type Pod = MemberPod & {
  spec: { nodeName?: string; containers: { name: string; image: string }[] };
};

/** A Node as the agent reads it: its name, labels (runtime-publisher.ts) and Ready condition. */
export type NodeView = {
  metadata: { name: string; labels?: Record<string, string> };
  status?: { conditions?: { type: string; status: string }[] };
};

const FINALIZER_PREFIX = `agent.${API_GROUP}/`;
/** How soon a run asks again for a checkpoint the runtime was still taking (#guard). */
const CHECKPOINT_BUSY_RETRY_MS = 3000;
const backupsPath = `/apis/${API_GROUP}/v1/${PLURAL}`;

/**
 * The member agent for one node: reconciles CheckpointBackups whose pod runs here. Each reconcile plans one step
 * from status (plan.ts), performs it (the steps: recorder.ts for start, wait and fail; checkpoint-step.ts;
 * image-steps.ts for build and push; finish-step.ts), and records it with one status write, so a restart resumes
 * where it stopped.
 */
export class AgentController {
  readonly backups: Informer<CheckpointBackup>;
  readonly pods: Informer<Pod>;
  /** The cluster's Nodes: who answers for pods on no node, which Nodes are gone, this Node's labels. */
  readonly nodes: Informer<NodeView>;
  readonly queue: WorkQueue<string>;
  /** Retention sweeps: one key, so sweeps never overlap and triggers during one fold into one more. */
  readonly sweeps: WorkQueue<'sweep'>;
  readonly #nodeQueue: PQueue;
  readonly #sweeper: RetentionSweeper;
  readonly #record: RunRecorder;
  readonly #archives: ArchiveFiles;
  readonly #checkpoint: CheckpointStep;
  readonly #images: ImageSteps;
  readonly #finish: FinishStep;
  readonly #workloads: WorkloadBackups;
  readonly #o: Required<Omit<AgentOptions, 'registryCa' | 'afterPhaseWritten'>> &
    Pick<AgentOptions, 'registryCa' | 'afterPhaseWritten'>;
  /** Objects by the pod they name (namespace/name), so a pod's event finds its objects without a scan. */
  readonly #byPod = new Map<string, Set<string>>();
  /** When each run first met a checkpoint the runtime was still taking (#guard), by `<ns>/<name>/<run id>`. */
  readonly #busySince = new Map<string, number>();
  /** Keys of workload-level objects (no podRef): a pod event may concern any of them (belongsTo). */
  readonly #workloadKeys = new Set<string>();
  #reportsOrphansNow = false;

  constructor(o: AgentOptions) {
    this.#o = {
      nodeConcurrency: 2,
      podConcurrency: 4,
      checkpointTimeoutSeconds: 120,
      maxAttempts: 5,
      checkpointDir: '/var/lib/kubelet/checkpoints',
      retention: {},
      retentionIntervalMs: 300_000,
      defaultSecretRegistries: [],
      registryTokenHosts: {},
      registryTimeouts: {},
      ...o,
    };
    const { client, log, node, metrics } = o;
    this.#nodeQueue = new PQueue({ concurrency: this.#o.nodeConcurrency });
    this.queue = new WorkQueue<string>({
      workers: 4,
      onError: (key, err, retry) =>
        log.warn(
          { key, err: err instanceof Error ? err.message : String(err), retryInMs: retry },
          'reconcile failed',
        ),
    });
    this.backups = new Informer<CheckpointBackup>(restListWatch(client, backupsPath), {
      onError: (err) => log.warn({ err: String(err) }, 'CheckpointBackup watch failed; retrying'),
    });
    this.pods = new Informer<Pod>(
      restListWatch(client, '/api/v1/pods', { fieldSelector: `spec.nodeName=${node}` }),
      {
        onError: (err) => log.warn({ err: String(err) }, 'pod watch failed; retrying'),
      },
    );
    this.nodes = new Informer<NodeView>(restListWatch(client, '/api/v1/nodes'), {
      onError: (err) => log.warn({ err: String(err) }, 'Node watch failed; retrying'),
    });
    this.backups.on((e, b, old) => {
      const key = `${b.metadata.namespace}/${b.metadata.name}`;
      this.#index(key, e === 'delete' ? undefined : b, old);
      this.#record.seen(key, e === 'delete' ? undefined : b);
      // Other nodes' work never reaches the queue: an agent's work follows its own node's pods.
      if (e !== 'delete' && this.#concerns(b)) this.queue.add(key);
      // A replica's change is its workload-level parent's too (its status sums the replicas up), where the parent
      // is this agent's work.
      const parent = parentKey(b);
      const parentObject = parent ? this.backups.get(parent) : undefined;
      if (parent && parentObject && this.#concerns(parentObject)) this.queue.add(parent);
      // A new object, a changed policy or pin, or a deleted object can change what retention keeps.
      if (e !== 'update' || retentionInputs(b) !== retentionInputs(old)) this.sweeps.add('sweep');
    });
    this.nodes.on(() => {
      // Becoming the agent that answers for pods on no node: the objects it may now have to report.
      const was = this.#reportsOrphansNow;
      this.#reportsOrphansNow = this.#reportsOrphans();
      if (this.#reportsOrphansNow && !was && this.backups.hasSynced())
        for (const b of this.backups.list())
          if (this.#concerns(b)) this.queue.add(`${b.metadata.namespace}/${b.metadata.name}`);
    });
    this.sweeps = new WorkQueue<'sweep'>({
      workers: 1,
      onError: (_k, err, retry) =>
        log.warn(
          { err: err instanceof Error ? err.message : String(err), retryInMs: retry },
          'retention sweep failed',
        ),
    });
    const events = new EventRecorder(client, 'checkpoint-agent', node, log);
    const record = new RunRecorder({
      node,
      client,
      events,
      metrics,
      maxAttempts: this.#o.maxAttempts,
      ...(o.afterPhaseWritten ? { afterPhaseWritten: o.afterPhaseWritten } : {}),
    });
    this.#record = record;
    this.#archives = new ArchiveFiles(this.#o.checkpointDir, log);
    const steps = { client, record, archives: this.#archives };
    this.#checkpoint = new CheckpointStep({
      ...steps,
      node,
      kubelet: o.kubelet,
      nodeQueue: this.#nodeQueue,
      podConcurrency: this.#o.podConcurrency,
      checkpointTimeoutSeconds: this.#o.checkpointTimeoutSeconds,
      backups: () => this.backups.list(),
      ...(o.afterPhaseWritten ? { afterPhaseWritten: o.afterPhaseWritten } : {}),
    });
    this.#images = new ImageSteps({
      ...steps,
      storage: o.storage,
      ...(o.registryCa ? { registryCa: o.registryCa } : {}),
      registryTokenHosts: this.#o.registryTokenHosts,
      registryTimeouts: this.#o.registryTimeouts,
      defaultSecretRegistries: this.#o.defaultSecretRegistries,
    });
    this.#finish = new FinishStep({ ...steps, metrics });
    this.#sweeper = new RetentionSweeper({
      node,
      client,
      log: log.child({ part: 'retention' }),
      storage: o.storage,
      checkpointDir: this.#o.checkpointDir,
      defaults: this.#o.retention,
      metrics,
      responsible: (b) => this.#responsible(b),
      admitted: (b) => !refusal(b, this.#o.defaultSecretRegistries),
      registryClient: (b) => this.#images.registryClient(b),
      backups: () => this.backups.list(),
      podHere: (ns, name) => this.pods.get(`${ns}/${name}`)?.spec.nodeName === node,
      writeStatus: (b, next) => record.write(b, (s) => next(s), { phase: false }),
      event: (b, type, reason, message) => record.event(b, type, reason, message),
      afterDelete: () => this.#o.afterPhaseWritten?.('RetentionDeleted'),
    });
    this.#workloads = new WorkloadBackups({
      node,
      client,
      log: log.child({ part: 'workloads' }),
      record,
      nodePods: () => this.pods.list(),
      backups: () => this.backups.list(),
      reportsOrphans: () => this.#answersForOrphans(),
      defaultSecretRegistries: this.#o.defaultSecretRegistries,
    });
    this.pods.on((e, p) => {
      if (e === 'delete') this.sweeps.add('sweep');
      for (const key of this.#byPod.get(`${p.metadata.namespace}/${p.metadata.name}`) ?? [])
        this.queue.add(key);
      // Workload-level objects (no podRef) cover the pods their workload owns: few, so looked at one by one.
      for (const key of this.#workloadKeys) {
        const b = this.backups.get(key);
        if (b && belongsTo(p, { ...b.spec.resourceRef, namespace: b.metadata.namespace }))
          this.queue.add(key);
      }
    });
  }

  async start(): Promise<void> {
    // Pods and Nodes first, so that the backups' first events are filtered against them; reconciles once every
    // cache is filled, so that they read from it.
    await Promise.all([this.pods.start(), this.nodes.start()]);
    this.#reportsOrphansNow = this.#reportsOrphans();
    await this.backups.start();
    this.queue.start((key) => this.reconcile(key));
    this.sweeps.start(async () => {
      await this.#sweeper.sweep();
      return { requeueAfterMs: this.#o.retentionIntervalMs };
    });
    this.sweeps.add('sweep');
    setInterval(() => {
      this.#o.metrics.queueDepth.set({ queue: 'reconcile' }, this.queue.depth());
      this.#o.metrics.queueDepth.set({ queue: 'checkpoint' }, this.#nodeQueue.size + this.#nodeQueue.pending);
    }, 2000).unref();
  }

  stop(): void {
    this.backups.stop();
    this.pods.stop();
    this.nodes.stop();
    this.queue.stop();
    this.sweeps.stop();
  }

  ready(): boolean {
    return this.backups.hasSynced() && this.pods.hasSynced() && this.nodes.hasSynced();
  }

  /** Whether an object's event may be this agent's work (concernsNode), from the caches. */
  #concerns(b: CheckpointBackup): boolean {
    if (isWorkloadBackup(b)) {
      // Its children are made by the agents of the nodes its pods run on, and kept in step by the one agent that
      // answers for the cluster (workload/controller.ts).
      const ref = { ...b.spec.resourceRef, namespace: b.metadata.namespace };
      return (
        this.#reportsOrphansNow ||
        !!b.metadata.finalizers?.includes(this.#finalizer()) ||
        this.pods.list().some((p) => p.spec.nodeName === this.#o.node && belongsTo(p, ref))
      );
    }
    const pod = this.pods.get(`${podNamespace(b)}/${podName(b)}`);
    return concernsNode(b, {
      node: this.#o.node,
      finalizer: this.#finalizer(),
      podHere: pod?.spec.nodeName === this.#o.node,
      reportsOrphans: this.#reportsOrphansNow,
      now: new Date(),
    });
  }

  #index(key: string, b: CheckpointBackup | undefined, old: CheckpointBackup | undefined): void {
    if (b && isWorkloadBackup(b)) this.#workloadKeys.add(key);
    else this.#workloadKeys.delete(key);
    if (b && isWorkloadBackup(b)) b = undefined;
    if (old && isWorkloadBackup(old)) old = undefined;
    const podOf = (x: CheckpointBackup) => `${podNamespace(x)}/${podName(x)}`;
    if (old && (!b || podOf(old) !== podOf(b))) {
      const set = this.#byPod.get(podOf(old));
      set?.delete(key);
      if (set && !set.size) this.#byPod.delete(podOf(old));
    }
    if (b) {
      const set = this.#byPod.get(podOf(b)) ?? new Set<string>();
      set.add(key);
      this.#byPod.set(podOf(b), set);
    }
  }

  /**
   * The object as the informer has it, or as this agent last wrote it when that is fresher (read-your-writes);
   * before the caches are started (tests drive reconcile alone) from the apiserver.
   */
  async #backup(key: string): Promise<CheckpointBackup | undefined> {
    if (!this.backups.hasSynced()) {
      const [ns, name] = key.split('/') as [string, string];
      return getOrUndefined<CheckpointBackup>(this.#o.client, objectPath(ns, name));
    }
    return this.#record.freshest(key, this.backups.get(key));
  }

  /** cached object -> deleting? (clean up, release) -> refused? -> plan -> one step. */
  async reconcile(key: string): Promise<Result> {
    const b = await this.#backup(key);
    if (!b) return undefined;
    if (b.metadata.deletionTimestamp) return this.#cleanUp(b);
    // A workload-level object runs nothing itself: its children, one per pod, do (workload/controller.ts).
    if (isWorkloadBackup(b)) return this.#workloads.reconcile(b);
    const reportsOrphans = await this.#answersForOrphans();
    // A refused object (another namespace, or the default secret for a tenant's URL) is not even looked at further:
    // reading the pod it names would already be acting in a namespace that is not its own.
    const refused = refusal(b, this.#o.defaultSecretRegistries);
    const pod = refused ? undefined : await this.#pod(b, reportsOrphans);
    const action = plan({
      backup: b,
      node: this.#o.node,
      pod,
      reportsOrphans,
      now: new Date(),
      // Only a confined path exists for the agent; a refused one fails the run, naming it (confine.ts).
      archiveExists: (p) => this.#archives.exists(p),
      refusedArchive: (p) => this.#archives.refused(p),
      maxAttempts: this.#o.maxAttempts,
      defaultSecretRegistries: this.#o.defaultSecretRegistries,
    });
    const log = this.#o.log.child({ backup: key, action: action.kind });
    const acts = action.kind !== 'ignore' && action.kind !== 'wait';
    if (acts) log.info('step');
    const t0 = Date.now();
    try {
      return await this.#perform(b, action, pod);
    } finally {
      if (acts) this.#o.metrics.phaseSeconds.observe({ step: action.kind }, (Date.now() - t0) / 1000);
    }
  }

  async #perform(b: CheckpointBackup, a: Action, pod: PodView | undefined): Promise<Result> {
    switch (a.kind) {
      case 'ignore':
        return undefined;
      case 'wait':
        return this.#record.wait(b, a.next);
      case 'fail':
        return this.#record.fail(b, a.reason, a.message, a.retry);
      case 'start': {
        // The status write starts from the object as the patch left it: no stale copy, no 409.
        const withFinalizer = await addFinalizer(
          this.#o.client,
          objectPath(b.metadata.namespace, b.metadata.name),
          b,
          this.#finalizer(),
        );
        return this.#record.start(withFinalizer, a.containers, a.tick, a.next);
      }
      case 'checkpoint':
        return this.#guard(b, async () => {
          // The recipients first: a memory dump that could not be pushed encrypted is not taken at all.
          if (b.spec.encryption) await this.#images.recipients(b, 'nothing was checkpointed');
          await this.#checkpoint.run(b, a.containers, pod?.uid);
        });
      case 'build':
        return this.#guard(b, () => this.#images.build(b, a.files));
      case 'push':
        return this.#guard(b, () => this.#images.push(b, a.images));
      case 'finish':
        await this.#finish.run(b);
        this.sweeps.add('sweep');
        return { requeueAfterMs: 0 };
    }
  }

  /**
   * Runs a step; a failure ends the run as Failed with the reason (and a retry when worth it: stepFailure). A
   * checkpoint the runtime is still taking (CheckpointInProgress: typically the request of this agent's previous
   * process, killed or rolled by a chart upgrade mid-run) is not a failure: the run waits and asks again, and then
   * adopts the archive that request wrote (adopt.ts) instead of taking a second checkpoint. Past twice the runtime's
   * checkpoint timeout (the earlier request has at most one) it is a failure after all: something else keeps the
   * container busy.
   */
  async #guard(b: CheckpointBackup, step: () => Promise<void>): Promise<Result> {
    const busyKey = `${b.metadata.namespace}/${b.metadata.name}/${b.status?.run?.id ?? ''}`;
    try {
      await step();
      this.#busySince.delete(busyKey);
      return { requeueAfterMs: 0 };
    } catch (err) {
      if (err instanceof CheckpointError && err.reason === 'CheckpointInProgress') {
        const since = this.#busySince.get(busyKey) ?? Date.now();
        this.#busySince.set(busyKey, since);
        if (Date.now() - since < this.#o.checkpointTimeoutSeconds * 2000) {
          this.#o.log.info({ backup: busyKey, reason: err.reason }, err.message);
          return { requeueAfterMs: CHECKPOINT_BUSY_RETRY_MS };
        }
      }
      this.#busySince.delete(busyKey);
      const f = stepFailure(err);
      return this.#record.fail(b, f.reason, f.message, f.retry);
    }
  }

  #finalizer(): string {
    return FINALIZER_PREFIX + this.#o.node;
  }

  /**
   * On deletion: this node's archives of the object go, then the finalizers it may release: its own, and those of
   * Nodes that no longer exist (which no agent would ever release).
   */
  async #cleanUp(b: CheckpointBackup): Promise<Result> {
    const release = [
      ...(b.metadata.finalizers?.includes(this.#finalizer()) ? [this.#finalizer()] : []),
      ...(await this.#finalizersOfGoneNodes(b)),
    ];
    if (!release.length) return undefined;
    if (b.status?.run?.node === this.#o.node)
      for (const f of b.status?.checkpointFiles ?? []) this.#archives.remove(f.filePath);
    await releaseFinalizers(this.#o.client, objectPath(b.metadata.namespace, b.metadata.name), b, release);
    return undefined;
  }

  /**
   * Gone Nodes' agent finalizers: the agent that answers for orphans (one per cluster) lists the Nodes afresh (a
   * cached Node list could still hold a Node just removed, or lack one just added, and a release cannot be undone).
   */
  async #finalizersOfGoneNodes(b: CheckpointBackup): Promise<string[]> {
    const foreign = (b.metadata.finalizers ?? []).filter(
      (f) => f.startsWith(FINALIZER_PREFIX) && f !== this.#finalizer(),
    );
    if (!foreign.length || !(await this.#answersForOrphans())) return [];
    const nodes = await this.#o.client.get<{ items: { metadata: { name: string } }[] }>('/api/v1/nodes');
    const gone = staleNodeFinalizers(
      foreign,
      FINALIZER_PREFIX,
      nodes.items.map((n) => n.metadata.name),
    );
    if (gone.length)
      this.#o.log.info(
        { backup: `${b.metadata.namespace}/${b.metadata.name}`, finalizers: gone },
        'releasing the finalizers of nodes that no longer exist',
      );
    return gone;
  }

  /**
   * The object's pod: from the cache of this node's pods when it is there. Otherwise it is on another node or on
   * none, which matters only to this node's own run (the pod gone fails it) and to the agent that answers for pods
   * on no node: they ask the apiserver, so "missing" is real (the cache may not have a new pod yet); for everyone
   * else it is none of theirs.
   */
  async #pod(b: CheckpointBackup, reportsOrphans: boolean): Promise<PodView | undefined> {
    const key = `${podNamespace(b)}/${podName(b)}`;
    let p: Pod | undefined = this.pods.hasSynced() ? this.pods.get(key) : undefined;
    if (p?.spec.nodeName !== this.#o.node) p = undefined;
    const ownRun = b.status?.run?.node === this.#o.node;
    if (!p && (reportsOrphans || ownRun || !this.pods.hasSynced()))
      p = await getOrUndefined<Pod>(
        this.#o.client,
        `/api/v1/namespaces/${podNamespace(b)}/pods/${podName(b)}`,
      );
    if (!p) return undefined;
    return {
      name: p.metadata.name,
      namespace: p.metadata.namespace,
      ...(p.metadata.uid ? { uid: p.metadata.uid } : {}),
      ...(p.spec.nodeName ? { nodeName: p.spec.nodeName } : {}),
      containers: p.spec.containers.map((c) => ({ name: c.name, image: c.image })),
      deleting: !!p.metadata.deletionTimestamp,
    };
  }

  /** This agent reports retention for an object when its runs happen here: the last run's node, else the pod's. */
  #responsible(b: CheckpointBackup): boolean {
    if (b.status?.run) return b.status.run.node === this.#o.node;
    return this.pods.get(`${podNamespace(b)}/${podName(b)}`)?.spec.nodeName === this.#o.node;
  }

  /** #reportsOrphans; before the caches are started (tests drive reconcile alone), from Nodes listed now. */
  async #answersForOrphans(): Promise<boolean> {
    if (this.nodes.hasSynced()) return this.#reportsOrphans();
    const nodes = await this.#o.client.get<{ items: NodeView[] }>('/api/v1/nodes');
    return this.#reportsOrphans(nodes.items);
  }

  /** Whether this agent answers for pods that exist nowhere (answersForOrphans), from the Node cache. */
  #reportsOrphans(nodes = this.nodes.list()): boolean {
    return answersForOrphans(
      nodes.map((n) => ({
        name: n.metadata.name,
        ready: !!n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      })),
      this.#o.node,
    );
  }
}

/** What of an object retention depends on besides status: its policy and its pins. */
function retentionInputs(b: CheckpointBackup | undefined): string {
  return JSON.stringify(b && [b.spec.retention, pinnedImages(b), b.spec.registry, b.spec.podRef]);
}
