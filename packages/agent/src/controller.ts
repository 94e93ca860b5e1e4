import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import PQueue from 'p-queue';
import {
  API_VERSION,
  PLURAL,
  API_GROUP,
  isFinished,
  pinnedImages,
  podNamespace,
  refusal,
  registryCredentials,
  setCondition,
  withBuiltImages,
  type BuiltImage,
  type CheckpointBackup,
  type CheckpointBackupStatus,
  type CheckpointFile,
  type CheckpointedPod,
  type RetentionPolicy,
} from '@stateful-migration/api';
import { readArchiveInfo } from '@stateful-migration/archive';
import {
  addFinalizer,
  EventRecorder,
  getOrUndefined,
  Informer,
  isNotFound,
  releaseFinalizers,
  restListWatch,
  WorkQueue,
  writeStatus,
  type Logger,
  type RestClient,
  type Result,
} from '@stateful-migration/kube';
import {
  RegistryClient,
  describeImage,
  getManifest,
  normalHost,
  pushImage,
  type RegistryTimeouts,
} from '@stateful-migration/registry';
import {
  buildLocalImage,
  checkpointAnnotations,
  imageName,
  runTag,
  splitImageName,
  type BuildahStorage,
} from './image.js';
import { confineArchive } from './confine.js';
import { CheckpointError, type KubeletClient } from './kubelet.js';
import type { AgentMetrics } from './metrics.js';
import {
  comeBackAfterFailure,
  failedStatus,
  finishedRun,
  plan,
  quote,
  staleNodeFinalizers,
  type Action,
  type PodView,
} from './plan.js';
import { checkpointedPod, type PodSpecView } from './checkpointed-pod.js';
import { adoptable, type FoundArchive } from './adopt.js';
import { RetentionSweeper } from './retention-sweep.js';
import { deleteCheckpointedPod } from './stop-pod.js';

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

type Pod = {
  metadata: { name: string; namespace: string; uid?: string; deletionTimestamp?: string };
  spec: { nodeName?: string; containers: { name: string; image: string }[] };
};

const FINALIZER_PREFIX = `agent.${API_GROUP}/`;
const backupsPath = `/apis/${API_GROUP}/v1/${PLURAL}`;
const objectPath = (ns: string, name: string) => `/apis/${API_GROUP}/v1/namespaces/${ns}/${PLURAL}/${name}`;

/**
 * The member agent for one node: reconciles CheckpointBackups whose pod runs here. Each reconcile plans one step
 * from status (plan.ts), performs it, and records it with one status write, so a restart resumes where it stopped.
 */
export class AgentController {
  readonly backups: Informer<CheckpointBackup>;
  readonly pods: Informer<Pod>;
  readonly queue: WorkQueue<string>;
  readonly #nodeQueue: PQueue;
  readonly #events: EventRecorder;
  /** Retention sweeps: one key, so sweeps never overlap and triggers during one fold into one more. */
  readonly sweeps: WorkQueue<'sweep'>;
  readonly #sweeper: RetentionSweeper;
  readonly #o: Required<Omit<AgentOptions, 'registryCa' | 'afterPhaseWritten'>> &
    Pick<AgentOptions, 'registryCa' | 'afterPhaseWritten'>;
  #orphanReporter = { value: false, at: 0 };

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
    const { client, log, node } = o;
    this.#events = new EventRecorder(client, 'checkpoint-agent', node, log);
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
    this.backups.on((e, b, old) => {
      this.queue.add(`${b.metadata.namespace}/${b.metadata.name}`);
      // A new object, a changed policy or pin, or a deleted object can change what retention keeps.
      if (e !== 'update' || retentionInputs(b) !== retentionInputs(old)) this.sweeps.add('sweep');
    });
    this.sweeps = new WorkQueue<'sweep'>({
      workers: 1,
      onError: (_k, err, retry) =>
        log.warn(
          { err: err instanceof Error ? err.message : String(err), retryInMs: retry },
          'retention sweep failed',
        ),
    });
    this.#sweeper = new RetentionSweeper({
      node,
      client,
      log: log.child({ part: 'retention' }),
      storage: o.storage,
      checkpointDir: this.#o.checkpointDir,
      defaults: this.#o.retention,
      metrics: o.metrics,
      responsible: (b) => this.#responsible(b),
      admitted: (b) => !refusal(b, this.#o.defaultSecretRegistries),
      registryClient: (b) => this.#registryClient(b),
      writeStatus: (b, next) => this.#write(b, (s) => next(s), { phase: false }),
      event: (b, type, reason, message) => this.#event(b, type, reason, message),
      afterDelete: () => this.#o.afterPhaseWritten?.('RetentionDeleted'),
    });
    this.pods.on((e, p) => {
      if (e === 'delete') this.sweeps.add('sweep');
      for (const b of this.backups.list()) {
        if (b.spec.podRef.name === p.metadata.name && podNamespace(b) === p.metadata.namespace)
          this.queue.add(`${b.metadata.namespace}/${b.metadata.name}`);
      }
    });
  }

  async start(): Promise<void> {
    this.queue.start((key) => this.reconcile(key));
    await Promise.all([this.backups.start(), this.pods.start()]);
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
    this.queue.stop();
    this.sweeps.stop();
  }

  ready(): boolean {
    return this.backups.hasSynced() && this.pods.hasSynced();
  }

  async reconcile(key: string): Promise<Result> {
    const [ns, name] = key.split('/') as [string, string];
    const b = await getOrUndefined<CheckpointBackup>(this.#o.client, objectPath(ns, name));
    if (!b) return undefined;
    const finalizer = FINALIZER_PREFIX + this.#o.node;
    if (b.metadata.deletionTimestamp) {
      const release = [
        ...(b.metadata.finalizers?.includes(finalizer) ? [finalizer] : []),
        ...(await this.#finalizersOfGoneNodes(b)),
      ];
      if (release.length) await this.#cleanUp(b, release);
      return undefined;
    }
    // A refused object (another namespace, or the default secret for a tenant's URL) is not even looked at further:
    // reading the pod it names would already be acting in a namespace that is not its own.
    const refused = refusal(b, this.#o.defaultSecretRegistries);
    const pod = refused ? undefined : await this.#pod(b);
    const action = plan({
      backup: b,
      node: this.#o.node,
      pod,
      reportsOrphans: await this.#reportsOrphans(),
      now: new Date(),
      // Only a confined path exists for the agent; a refused one fails the run, naming it (confine.ts).
      archiveExists: (p) => confineArchive(this.#o.checkpointDir, p).ok,
      refusedArchive: (p) => {
        const c = confineArchive(this.#o.checkpointDir, p);
        return c.ok || c.missing ? undefined : c.why;
      },
      maxAttempts: this.#o.maxAttempts,
      defaultSecretRegistries: this.#o.defaultSecretRegistries,
    });
    const log = this.#o.log.child({ backup: key, action: action.kind });
    if (action.kind !== 'ignore' && action.kind !== 'wait') log.info('step');
    const t0 = Date.now();
    try {
      return await this.#perform(b, action, finalizer, pod);
    } finally {
      if (action.kind !== 'ignore' && action.kind !== 'wait')
        this.#o.metrics.phaseSeconds.observe({ step: action.kind }, (Date.now() - t0) / 1000);
    }
  }

  async #perform(
    b: CheckpointBackup,
    a: Action,
    finalizer: string,
    pod: PodView | undefined,
  ): Promise<Result> {
    switch (a.kind) {
      case 'ignore':
        return undefined;
      case 'wait':
        return this.#wait(b, a.next);
      case 'fail':
        return this.#fail(b, a.reason, a.message, a.retry);
      case 'start':
        await addFinalizer(this.#o.client, objectPath(b.metadata.namespace, b.metadata.name), b, finalizer);
        return this.#start(b, a.containers, a.tick, a.next);
      case 'checkpoint':
        return this.#guard(b, () => this.#checkpoint(b, a.containers, pod?.uid));
      case 'build':
        return this.#guard(b, () => this.#build(b, a.files));
      case 'push':
        return this.#guard(b, () => this.#push(b, a.images));
      case 'finish':
        return this.#finish(b);
    }
  }

  /** Runs a step; a failure ends the run as Failed with the reason (and a retry when worth it). */
  async #guard(b: CheckpointBackup, step: () => Promise<void>): Promise<Result> {
    try {
      await step();
      return { requeueAfterMs: 0 };
    } catch (err) {
      const reason =
        err instanceof CheckpointError ? err.reason : ((err as { reason?: string }).reason ?? 'StepFailed');
      const transient = err instanceof CheckpointError ? err.transient : true;
      return this.#fail(b, reason, err instanceof Error ? err.message : String(err), transient);
    }
  }

  /** One status write; `phase: false` for writes that record no phase (retention), so the crash hook ignores them. */
  async #write(
    b: CheckpointBackup,
    next: (s: CheckpointBackupStatus, cur: CheckpointBackup) => CheckpointBackupStatus | undefined,
    { phase = true } = {},
  ): Promise<CheckpointBackup> {
    const updated = await writeStatus<CheckpointBackup, CheckpointBackupStatus>(
      this.#o.client,
      objectPath(b.metadata.namespace, b.metadata.name),
      (cur) => (cur.metadata.uid !== b.metadata.uid ? undefined : next({ ...(cur.status ?? {}) }, cur)),
    );
    if (phase && updated.status?.phase) this.#o.afterPhaseWritten?.(updated.status.phase);
    return updated;
  }

  async #event(
    b: CheckpointBackup,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    await this.#events.emit({ ...b, apiVersion: API_VERSION }, type, reason, message);
  }

  async #wait(b: CheckpointBackup, next: Date | undefined): Promise<Result> {
    const cron = b.spec.schedule.trim() !== 'immediately';
    const gen = b.metadata.generation ?? 0;
    const nextIso = next?.toISOString();
    if (cron && (b.status?.nextScheduledTime !== nextIso || b.status?.observedGeneration !== gen)) {
      await this.#write(b, (s) => ({
        ...s,
        observedGeneration: gen,
        ...(nextIso ? { nextScheduledTime: nextIso } : {}),
      }));
    }
    return next ? { requeueAfterMs: Math.max(0, next.getTime() - Date.now()) } : undefined;
  }

  async #fail(b: CheckpointBackup, reason: string, message: string, retry: boolean): Promise<Result> {
    const generation = b.metadata.generation ?? 0;
    let failures = 0;
    let wrote = false;
    const updated = await this.#write(b, (s) => {
      const next = failedStatus(s, { reason, message, retry, generation });
      wrote = next !== undefined;
      failures = (next ?? s).run?.failures ?? 0;
      return next;
    });
    // Recorded already: no write (which would wake the informer for another pass) and no Event.
    if (!wrote) return this.#afterFailure(b, retry, failures);
    this.#o.metrics.failures.inc({ reason });
    await this.#event(updated, 'Warning', reason, message);
    return this.#afterFailure(b, retry, failures);
  }

  #afterFailure(b: CheckpointBackup, retry: boolean, failures: number): Result {
    const ms = comeBackAfterFailure({
      cron: b.spec.schedule.trim() !== 'immediately',
      retry,
      failures,
      maxAttempts: this.#o.maxAttempts,
      nextScheduledTime: b.status?.nextScheduledTime,
      now: new Date(),
    });
    return ms === undefined ? undefined : { requeueAfterMs: ms };
  }

  async #start(b: CheckpointBackup, containers: string[], tick?: Date, next?: Date): Promise<Result> {
    const gen = b.metadata.generation ?? 0;
    const startedAt = new Date();
    const updated = await this.#write(b, (s) => {
      const failures = s.run?.generation === gen && s.phase === 'Failed' ? (s.run.failures ?? 0) : 0;
      return {
        ...s,
        phase: 'Checkpointing',
        message: `checkpointing ${containers.join(', ')} of pod ${podNamespace(b)}/${b.spec.podRef.name} on ${this.#o.node}`,
        observedGeneration: gen,
        run: {
          id: runTag(startedAt),
          startedAt: startedAt.toISOString(),
          generation: gen,
          node: this.#o.node,
          containers,
          failures,
          ...(tick ? { tick: tick.toISOString() } : {}),
        },
        checkpointFiles: [],
        ...(next ? { nextScheduledTime: next.toISOString() } : {}),
      };
    });
    await this.#event(updated, 'Normal', 'Checkpointing', updated.status?.message ?? '');
    return { requeueAfterMs: 0 };
  }

  async #checkpoint(b: CheckpointBackup, containers: string[], podUid: string | undefined): Promise<void> {
    const ns = podNamespace(b);
    const pod = b.spec.podRef.name;
    const perPod = new PQueue({ concurrency: this.#o.podConcurrency });
    const files = await Promise.all(
      containers.map((c) =>
        perPod.add(() =>
          this.#nodeQueue.add(async (): Promise<CheckpointFile> => {
            const adopted = await this.#unrecordedArchive(b, c, podUid);
            if (adopted) return adopted;
            const filePath = await this.#o.kubelet.checkpoint(ns, pod, c, this.#o.checkpointTimeoutSeconds);
            this.#o.afterPhaseWritten?.('ArchiveWritten');
            this.#confineKubeletAnswer(filePath, `${ns}/${pod}/${c}`);
            return { containerName: c, filePath, checkpointTime: new Date().toISOString() };
          }),
        ),
      ),
    );
    const record = await this.#checkpointedPod(b);
    const updated = await this.#write(b, (s) => {
      const kept = (s.checkpointFiles ?? []).filter((f) => !containers.includes(f.containerName));
      const all = [...kept, ...(files as CheckpointFile[])];
      return {
        ...s,
        phase: 'Checkpointed',
        message: `checkpointed ${all.map((f) => f.containerName).join(', ')}`,
        checkpointFiles: all,
        ...(record ? { checkpointedPod: record } : {}),
      };
    });
    await this.#event(updated, 'Normal', 'Checkpointed', updated.status?.message ?? '');
  }

  /**
   * The kubelet's answer names the archive it wrote; a path outside the checkpoint directory (or a link out of it)
   * is refused before it is recorded, read or deleted. So is one that does not exist here, which would otherwise
   * make the run checkpoint again and again.
   */
  #confineKubeletAnswer(filePath: string, target: string): void {
    const dir = this.#o.checkpointDir;
    const c = confineArchive(dir, filePath);
    if (c.ok) return;
    throw c.missing
      ? new CheckpointError(
          'ArchiveMissing',
          `kubelet answered with archive ${quote(filePath)} for ${target}, which does not exist here: is --checkpoint-dir (${dir}) the kubelet's checkpoint directory, mounted at the same path?`,
          false,
        )
      : new CheckpointError(
          'ArchiveOutsideCheckpointDir',
          `kubelet answered with archive ${quote(filePath)} for ${target}, which ${c.why}: refused: not recorded, read or deleted (is --checkpoint-dir the kubelet's checkpoint directory?)`,
          false,
        );
  }

  /**
   * The path to read a recorded archive at (its real path, the one judged), or a CheckpointError: missing, or
   * refused as outside the checkpoint directory (plan() refuses those first; this holds if a link changed since).
   */
  #archive(f: CheckpointFile, step: string): string {
    const c = confineArchive(this.#o.checkpointDir, f.filePath);
    if (c.ok) return c.path;
    if (c.missing)
      throw new CheckpointError(
        'ArchiveMissing',
        `the archive of ${f.containerName} is gone before its ${step}`,
        true,
      );
    throw new CheckpointError(
      'ArchiveOutsideCheckpointDir',
      `status.checkpointFiles names archive ${quote(f.filePath)} for container ${f.containerName}, which ${c.why}: refused: not read, built, pushed or deleted`,
      true,
    );
  }

  /** Deletes a recorded archive, if it is one of the checkpoint directory's; a refused path is logged and kept. */
  #removeArchive(filePath: string): void {
    const c = confineArchive(this.#o.checkpointDir, filePath);
    // The recorded name is unlinked (a link inside stays a link); the check above resolved every part of it.
    if (c.ok) rmSync(filePath, { force: true });
    else if (!c.missing)
      this.#o.log.warn(
        { filePath, why: c.why },
        'not deleting an archive path outside the checkpoint directory',
      );
  }

  /** The pod as it is at checkpoint time, for restores (status.checkpointedPod); none if it vanished meanwhile. */
  async #checkpointedPod(b: CheckpointBackup): Promise<CheckpointedPod | undefined> {
    const pod = await getOrUndefined<PodSpecView>(
      this.#o.client,
      `/api/v1/namespaces/${podNamespace(b)}/pods/${b.spec.podRef.name}`,
    );
    return pod && checkpointedPod(pod);
  }

  /**
   * An archive of this run that the kubelet wrote but the agent died before recording: found in the checkpoint
   * directory by reading the spec.dump of each archive written since the run started (file names are ambiguous),
   * and used instead of a second checkpoint only when `adoptable` can tell it is this run's own.
   */
  async #unrecordedArchive(
    b: CheckpointBackup,
    container: string,
    podUid: string | undefined,
  ): Promise<CheckpointFile | undefined> {
    const run = b.status?.run;
    if (!run) return undefined;
    const since = Date.parse(run.startedAt);
    const dir = this.#o.checkpointDir;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return undefined;
    }
    const found: FoundArchive[] = [];
    for (const name of names) {
      const filePath = join(dir, name);
      try {
        // A link that leads out of the checkpoint directory is not looked into (confine.ts).
        const c = confineArchive(this.#o.checkpointDir, filePath);
        if (!c.ok) continue;
        const st = statSync(c.path);
        if (!st.isFile() || st.mtimeMs < since) continue;
        const info = await readArchiveInfo(c.path);
        found.push({ ...info, filePath: c.path, mtime: st.mtime.toISOString() });
      } catch {
        // not an archive, or vanished meanwhile
      }
    }
    const ns = podNamespace(b);
    const others = this.backups.list().filter((x) => x.metadata.uid !== b.metadata.uid);
    const adopted = adoptable({
      found,
      container,
      pod: { namespace: ns, name: b.spec.podRef.name, ...(podUid ? { uid: podUid } : {}) },
      runStartedAt: run.startedAt,
      now: new Date(),
      claimed: new Set(others.flatMap((x) => (x.status?.checkpointFiles ?? []).map((f) => f.filePath))),
      othersRunning: others.some(
        (x) =>
          x.status?.run?.node === this.#o.node &&
          !isFinished(x.status.phase) &&
          podNamespace(x) === ns &&
          x.spec.podRef.name === b.spec.podRef.name &&
          x.status.run.containers.includes(container),
      ),
    });
    if (!adopted) return undefined;
    this.#o.log.info(
      { container, filePath: adopted.filePath },
      'adopting an archive of this run that was not recorded',
    );
    return {
      containerName: container,
      filePath: adopted.filePath,
      checkpointTime: new Date(Date.parse(adopted.checkpointedTime || adopted.mtime)).toISOString(),
    };
  }

  async #build(b: CheckpointBackup, files: CheckpointFile[]): Promise<void> {
    await this.#write(b, (s) => ({
      ...s,
      phase: 'ImageBuilding',
      message: `building images for ${files.map((f) => f.containerName).join(', ')}`,
    }));
    const run = b.status!.run!;
    const images = await Promise.all(
      files.map(async (f): Promise<BuiltImage> => {
        const archive = this.#archive(f, 'build');
        const info = await readArchiveInfo(archive);
        const annotations = checkpointAnnotations(info);
        const name = imageName(b.spec.podRef.name, f.containerName, run.id, b.spec.registry);
        const built = new Date(run.startedAt);
        const digest = b.spec.registry
          ? (await describeImage(archive, annotations, built)).digest
          : await buildLocalImage(this.#o.storage, archive, name, annotations);
        return {
          containerName: f.containerName,
          imageName: name,
          digest,
          buildTime: new Date().toISOString(),
          pushed: false,
        };
      }),
    );
    const updated = await this.#write(b, (s) => ({
      ...s,
      phase: 'ImageBuilt',
      message: `built ${images.map((i) => i.imageName).join(', ')}`,
      // The one place builtImages grows: bounded per container, the run's own images (its tag) always kept.
      ...withBuiltImages(
        s,
        [...(s.builtImages ?? []).filter((x) => !images.some((i) => i.imageName === x.imageName)), ...images],
        new Set(
          [...(s.builtImages ?? []), ...images]
            .map((i) => i.imageName)
            .filter((n) => n.endsWith(`:${run.id}`)),
        ),
      ),
    }));
    await this.#event(updated, 'Normal', 'ImageBuilt', updated.status?.message ?? '');
  }

  async #push(b: CheckpointBackup, images: BuiltImage[]): Promise<void> {
    await this.#write(b, (s) => ({
      ...s,
      phase: 'ImagePushing',
      message: `pushing ${images.map((i) => i.imageName).join(', ')}`,
    }));
    const client = await this.#registryClient(b);
    const run = b.status!.run!;
    const files = b.status?.checkpointFiles ?? [];
    for (const img of images) {
      const { repository, tag } = splitImageName(img.imageName);
      await client.login(repository);
      const there = await getManifest(client, repository, tag);
      if (there?.digest === img.digest) continue;
      const file = files.find((f) => f.containerName === img.containerName);
      if (!file)
        throw new CheckpointError(
          'ArchiveMissing',
          `the archive of ${img.containerName} is gone before its push`,
          true,
        );
      const archive = this.#archive(file, 'push');
      const info = await readArchiveInfo(archive);
      const pushed = await pushImage(client, {
        repository,
        tag,
        layerTar: archive,
        annotations: checkpointAnnotations(info),
        created: new Date(run.startedAt),
      });
      if (pushed.digest !== img.digest)
        throw new CheckpointError(
          'DigestMismatch',
          `pushed ${img.imageName} as ${pushed.digest}, expected ${img.digest}`,
          true,
        );
    }
    const names = new Set(images.map((i) => i.imageName));
    const updated = await this.#write(b, (s) => ({
      ...s,
      phase: 'ImagePushed',
      message: `pushed ${images.map((i) => i.imageName).join(', ')}`,
      builtImages: (s.builtImages ?? []).map((x) => (names.has(x.imageName) ? { ...x, pushed: true } : x)),
    }));
    await this.#event(updated, 'Normal', 'ImagePushed', updated.status?.message ?? '');
  }

  /**
   * Credentials are read from this object's own secret each time, never cached or shared across objects; the
   * platform's default secret only for the registries the platform names for it (plan() refuses the rest before a
   * run starts; retention and a spec changed under a run meet this check too).
   */
  async #registryClient(b: CheckpointBackup): Promise<RegistryClient> {
    const cross = refusal(b, this.#o.defaultSecretRegistries);
    if (cross) throw new CheckpointError(cross.reason, cross.message, false);
    const creds = registryCredentials(b, this.#o.defaultSecretRegistries);
    if (creds.kind !== 'own' && creds.kind !== 'default')
      throw new CheckpointError('RegistryNotSet', 'spec.registry is not set', false);
    const ref = creds.secret;
    let secret: { data?: Record<string, string> };
    try {
      secret = await this.#o.client.get(`/api/v1/namespaces/${ref.namespace}/secrets/${ref.name}`);
    } catch (err) {
      throw new CheckpointError(
        'RegistrySecretUnavailable',
        `cannot read registry secret ${ref.namespace}/${ref.name} (${isNotFound(err) ? 'not found' : String((err as Error).message)})`,
        true,
      );
    }
    const dec = (k: string) => Buffer.from(secret.data?.[k] ?? '', 'base64').toString('utf8');
    if (!dec('username') || !dec('password')) {
      throw new CheckpointError(
        'RegistrySecretInvalid',
        `registry secret ${ref.namespace}/${ref.name} lacks username or password`,
        false,
      );
    }
    const host = b.spec.registry!.url;
    return new RegistryClient({
      host,
      credentials: { username: dec('username'), password: dec('password') },
      ...(this.#o.registryCa ? { ca: this.#o.registryCa } : {}),
      tokenHosts: this.#o.registryTokenHosts[normalHost(host)] ?? [],
      timeouts: this.#o.registryTimeouts,
    });
  }

  async #finish(b: CheckpointBackup): Promise<Result> {
    for (const f of b.status?.checkpointFiles ?? []) this.#removeArchive(f.filePath);
    const run = b.status!.run!;
    const pod = { namespace: podNamespace(b), name: b.spec.podRef.name };
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
    const gen = b.metadata.generation ?? 0;
    const updated = await this.#write(b, (s) => ({
      ...s,
      phase,
      message,
      checkpointFiles: [],
      lastCheckpointTime: run.startedAt,
      run: { ...run, failures: 0 },
      conditions: setCondition(s.conditions, {
        type: 'Completed',
        status: 'True',
        reason: phase,
        message,
        observedGeneration: gen,
      }),
    }));
    this.#o.metrics.runs.inc({ phase });
    await this.#event(updated, phase === 'CompletedWithError' ? 'Warning' : 'Normal', phase, message);
    this.sweeps.add('sweep');
    return { requeueAfterMs: 0 };
  }

  /** On deletion: drop this node's archives of the object, then the finalizers released (ours, gone nodes'). */
  async #cleanUp(b: CheckpointBackup, release: string[]): Promise<void> {
    if (b.status?.run?.node === this.#o.node)
      for (const f of b.status?.checkpointFiles ?? []) this.#removeArchive(f.filePath);
    await releaseFinalizers(this.#o.client, objectPath(b.metadata.namespace, b.metadata.name), b, release);
  }

  /**
   * Agent finalizers of Nodes that no longer exist, which no agent would ever release: the agent that answers for
   * orphans (one per cluster) releases them, from a fresh list of Nodes.
   */
  async #finalizersOfGoneNodes(b: CheckpointBackup): Promise<string[]> {
    const foreign = (b.metadata.finalizers ?? []).filter(
      (f) => f.startsWith(FINALIZER_PREFIX) && f !== FINALIZER_PREFIX + this.#o.node,
    );
    if (!foreign.length || !(await this.#reportsOrphans())) return [];
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

  async #pod(b: CheckpointBackup): Promise<PodView | undefined> {
    const p = await getOrUndefined<Pod>(
      this.#o.client,
      `/api/v1/namespaces/${podNamespace(b)}/pods/${b.spec.podRef.name}`,
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
    return this.pods
      .list()
      .some((p) => p.metadata.name === b.spec.podRef.name && p.metadata.namespace === podNamespace(b));
  }

  /** One agent per cluster answers for pods that exist nowhere: the one on the first Ready node by name. */
  async #reportsOrphans(): Promise<boolean> {
    if (Date.now() - this.#orphanReporter.at < 30_000) return this.#orphanReporter.value;
    const nodes = await this.#o.client.get<{
      items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[];
    }>('/api/v1/nodes');
    const ready = nodes.items
      .filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      .map((n) => n.metadata.name)
      .sort();
    this.#orphanReporter = { value: ready[0] === this.#o.node, at: Date.now() };
    return this.#orphanReporter.value;
  }
}

/** What of an object retention depends on besides status: its policy and its pins. */
function retentionInputs(b: CheckpointBackup | undefined): string {
  return JSON.stringify(b && [b.spec.retention, pinnedImages(b), b.spec.registry, b.spec.podRef]);
}
