import {
  EventRecorder,
  getOrUndefined,
  Informer,
  restListWatch,
  WorkQueue,
  isNotFound,
  writeStatus,
  type KubeObject,
  type Logger,
  type RestClient,
  type Result,
} from '@stateful-migration/kube';
import {
  containerEnv,
  containerState,
  envReferences,
  keyedData,
  lastState,
  podPhase,
  serviceEnv,
  type KeyedData,
  type PodContainer,
  type RestartPolicy,
} from './runtime/decisions.js';
import type { PullCredentials } from './runtime/images.js';
import type { NodeRuntime, PodConfig, RuntimePod } from './runtime/runtime.js';
import { Prober } from './probes.js';
import { MountFailure, PodVolumes, type Volume } from './volumes.js';

export interface Container {
  name: string;
  image: string;
}

export interface Pod extends KubeObject {
  spec?: RuntimePod['spec'] & {
    nodeName?: string;
    initContainers?: Container[];
    imagePullSecrets?: { name: string }[];
    terminationGracePeriodSeconds?: number;
    serviceAccountName?: string;
    enableServiceLinks?: boolean;
    volumes?: Volume[];
  };
  status?: {
    phase?: string;
    hostIP?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; ready: boolean; state?: Record<string, unknown> }[];
    [k: string]: unknown;
  };
}

const rfc3339 = (d = new Date()): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The kubelet's pod loop for one node: each pod bound here gets its containers from the node's runtime (real
 * processes in runc), and its status says what they do: Pending while an image pulls or a container cannot be
 * created, Running with Ready containers, restarts and CrashLoopBackOff by restartPolicy, Succeeded or Failed.
 * A pod being deleted has its containers stopped (SIGTERM, SIGKILL after the grace period), then is removed.
 */
export class PodLifecycle {
  readonly informer: Informer<Pod>;
  readonly #queue: WorkQueue<string>;
  #podIndex = 0;
  readonly #ips = new Map<string, string>();
  readonly #uids = new Map<string, string>();
  /** Failed volume set-ups in a row, by pod UID: the kubelet's back-off between attempts. */
  readonly #mountFailures = new Map<string, number>();
  readonly #volumes: PodVolumes;
  readonly #events: EventRecorder;
  readonly #prober: Prober;
  #gcTimer?: NodeJS.Timeout;

  constructor(
    private readonly client: RestClient,
    private readonly nodeName: string,
    private readonly nodeOctet: number,
    /** The node's address, as the Node's InternalIP gives it (status.hostIP): a loopback address of its own. */
    private readonly hostIP: string,
    private readonly log: Logger,
    readonly runtime: NodeRuntime,
    /** The node's root (hostPaths are inside it) and the kubelet's root directory (pods' volumes). */
    dirs: { nodeRoot: string; kubeletRoot: string },
  ) {
    this.#volumes = new PodVolumes(client, dirs.nodeRoot, dirs.kubeletRoot);
    this.#events = new EventRecorder(client, 'kubelet', nodeName, log);
    this.#prober = new Prober(runtime, this.#events, (key) => this.poke(key), log);
    this.informer = new Informer<Pod>(
      restListWatch(client, '/api/v1/pods', { fieldSelector: `spec.nodeName=${nodeName}` }),
      {
        resyncMs: 60_000,
        onError: (err) => log.warn({ err: String(err) }, 'pod watch failed; retrying'),
      },
    );
    this.#queue = new WorkQueue<string>({
      workers: 4,
      onError: (key, err) => log.warn({ pod: key, err: String(err) }, 'pod sync failed'),
    });
    this.informer.on((_e, pod) => this.#queue.add(`${pod.metadata?.namespace}/${pod.metadata?.name}`));
  }

  async start(): Promise<void> {
    this.#queue.start((key) => this.#sync(key));
    await this.informer.start();
    await this.#collectGarbage();
    this.#gcTimer = setInterval(() => void this.#collectGarbage().catch(() => undefined), 30_000);
  }

  stop(): void {
    clearInterval(this.#gcTimer);
    this.#prober.stop();
    this.informer.stop();
    this.#queue.stop();
  }

  /** Enqueues the pod whose container exited, so its status follows at once. */
  poke(key: string): void {
    this.#queue.add(key);
  }

  /** Containers of pods that are no longer bound here (deleted for good while the stand-in was away or forced). */
  async #collectGarbage(): Promise<void> {
    const live = new Set(this.informer.list().map((p) => p.metadata?.uid));
    for (const uid of this.runtime.podUids()) {
      if (live.has(uid)) continue;
      await this.runtime.removePod(uid);
      this.#volumes.remove(uid);
      this.log.info({ uid }, 'removed the containers of a pod no longer bound here');
    }
  }

  async #sync(key: string): Promise<Result> {
    const pod = this.informer.get(key);
    if (!pod?.metadata?.name || !pod.spec) {
      const uid = this.#uids.get(key);
      if (uid) {
        this.#prober.stopPod(uid);
        await this.runtime.removePod(uid);
        this.#volumes.remove(uid);
        this.#mountFailures.delete(uid);
      }
      this.#uids.delete(key);
      return undefined;
    }
    this.#uids.set(key, pod.metadata.uid!);
    const path = `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`;
    if (pod.metadata.deletionTimestamp) {
      const grace = Number(
        (pod.metadata as { deletionGracePeriodSeconds?: number }).deletionGracePeriodSeconds ??
          pod.spec.terminationGracePeriodSeconds ??
          30,
      );
      this.#prober.stopPod(pod.metadata.uid!);
      if (!(await this.runtime.stopPod(pod, grace))) return { requeueAfterMs: 500 };
      this.#volumes.remove(pod.metadata.uid!);
      try {
        await this.client.request('DELETE', path, {
          body: {
            kind: 'DeleteOptions',
            apiVersion: 'v1',
            gracePeriodSeconds: 0,
            preconditions: { uid: pod.metadata.uid },
          },
        });
        this.log.info({ pod: key }, 'pod deleted');
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      return undefined;
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return undefined;
    const uid = pod.metadata.uid!;
    let volumes: Map<string, string>;
    try {
      volumes = await this.#volumes.setUp(pod);
      this.#mountFailures.delete(uid);
    } catch (err) {
      if (!(err instanceof MountFailure)) throw err;
      // The kubelet's volume manager: a Warning FailedMount, the pod's containers waiting in ContainerCreating
      // (those already running go on), and another attempt after a back-off.
      const failures = (this.#mountFailures.get(uid) ?? 0) + 1;
      this.#mountFailures.set(uid, failures);
      await this.#events.emit(
        { ...pod, apiVersion: 'v1', kind: 'Pod' },
        'Warning',
        'FailedMount',
        err.message,
      );
      const retry = Math.min(500 * 2 ** (failures - 1), 122_000);
      if (this.runtime.podUids().includes(uid)) return { requeueAfterMs: retry };
      const creating = this.#creating(pod);
      if (!sameStatus(pod.status, creating)) await this.#write(pod, path, creating);
      return { requeueAfterMs: retry };
    }
    const config: PodConfig = { volumes, podIP: this.#podIP(pod), env: (c) => this.#env(pod, c) };
    const { containers, requeueMs } = await this.runtime.sync(pod, () => this.#pullCredentials(pod), config);
    const running = new Map<string, string>();
    const startedAt = new Map<string, number>();
    for (const c of containers)
      if (c.view.state === 'running') {
        running.set(c.name, c.containerId);
        startedAt.set(c.name, Date.parse(c.view.startedAt));
      }
    this.#prober.sync({ ...pod, status: { ...pod.status, podIP: this.#podIP(pod) } }, running, startedAt);
    const desired = this.#status(pod, containers);
    if (!sameStatus(pod.status, desired)) await this.#write(pod, path, desired);
    // The kubelet syncs a running pod again every minute or so: secrets, configMaps and tokens in volumes follow.
    return { requeueAfterMs: requeueMs ?? 60_000 };
  }

  async #write(pod: Pod, path: string, desired: NonNullable<Pod['status']>): Promise<void> {
    await writeStatus<Pod, Pod['status']>(this.client, path, (current) => {
      if (current.metadata?.uid !== pod.metadata?.uid || current.metadata?.deletionTimestamp)
        return undefined;
      return { ...current.status, ...desired };
    });
  }

  /** The pod's IP, given once (the sandbox's, which the kubelet knows before it starts any container). */
  #podIP(pod: Pod): string {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    let ip = this.#ips.get(key) ?? (pod.status?.podIP as string | undefined);
    if (!ip) {
      this.#podIndex++;
      ip = `10.${this.nodeOctet}.${Math.floor(this.#podIndex / 250)}.${(this.#podIndex % 250) + 2}`;
    }
    this.#ips.set(key, ip);
    return ip;
  }

  /** A pod whose volumes are not set up: Pending, every container waiting in ContainerCreating. */
  #creating(pod: Pod): NonNullable<Pod['status']> {
    return this.#status(
      pod,
      (pod.spec?.containers ?? []).map((c) => ({
        name: c.name,
        image: c.image,
        imageId: '',
        containerId: '',
        view: { state: 'waiting', reason: 'ContainerCreating', everStarted: false },
        restarts: 0,
      })),
    );
  }

  /**
   * The container's environment as the kubelet makes it: the secrets and configMaps it names, the service
   * variables (the kubernetes Service, and the namespace's Services unless enableServiceLinks is false).
   */
  async #env(pod: Pod, c: PodContainer): Promise<{ env: [string, string][] } | { error: string }> {
    const ns = pod.metadata?.namespace ?? '';
    const refs = envReferences(c);
    const fetch = async (kind: 'secret' | 'configMap', names: string[]) => {
      const out: Record<string, KeyedData> = {};
      for (const n of names)
        out[n] = keyedData(
          kind,
          await getOrUndefined(
            this.client,
            `/api/v1/namespaces/${ns}/${kind === 'secret' ? 'secrets' : 'configmaps'}/${n}`,
          ),
        );
      return out;
    };
    type Svc = {
      metadata?: { name?: string };
      spec?: { clusterIP?: string; ports?: { name?: string; port: number; protocol?: string }[] };
    };
    const services: Svc[] = [];
    if (pod.spec?.enableServiceLinks !== false && ns !== 'default')
      services.push(...(await this.client.get<{ items: Svc[] }>(`/api/v1/namespaces/${ns}/services`)).items);
    const master = (
      await this.client.get<{ items: Svc[] }>('/api/v1/namespaces/default/services')
    ).items.filter((s) => pod.spec?.enableServiceLinks !== false || s.metadata?.name === 'kubernetes');
    services.push(...master);
    const svcEnv = serviceEnv(services.map((s) => ({ name: s.metadata?.name ?? '', ...(s.spec ?? {}) })));
    const ip = this.#podIP(pod);
    const r = containerEnv(
      c,
      {
        ...pod,
        status: {
          ...pod.status,
          hostIP: this.hostIP,
          podIP: ip,
          hostIPs: [{ ip: this.hostIP }],
          podIPs: [{ ip }],
        },
      },
      { secrets: await fetch('secret', refs.secrets), configMaps: await fetch('configMap', refs.configMaps) },
      svcEnv,
      { cpu: '2', memory: '4Gi', 'ephemeral-storage': '10Gi' },
    );
    if ('error' in r) return r;
    if (r.skipped.length)
      await this.#events.emit(
        { ...pod, apiVersion: 'v1', kind: 'Pod' },
        'Warning',
        'InvalidEnvironmentVariableNames',
        `Keys [${r.skipped.join(', ')}] from the EnvFrom were skipped since they are considered invalid environment variable names.`,
      );
    return { env: r.env };
  }

  #status(
    pod: Pod,
    containers: Awaited<ReturnType<NodeRuntime['sync']>>['containers'],
  ): NonNullable<Pod['status']> {
    const ip = this.#podIP(pod);
    const started = (pod.status?.startTime as string | undefined) ?? rfc3339();
    const policy: RestartPolicy = pod.spec?.restartPolicy ?? 'Always';
    const phase = podPhase(policy, containers);
    const specs = new Map((pod.spec?.containers ?? []).map((c) => [c.name, c]));
    // Ready: running, and the readiness probe (if any) says so.
    const isReady = (c: (typeof containers)[number]) =>
      c.view.state === 'running' &&
      this.#prober.ready(pod, specs.get(c.name) ?? { name: c.name }, c.containerId);
    const ready = containers.every(isReady) ? 'True' : 'False';
    const previous = new Map((pod.status?.conditions ?? []).map((c) => [c.type, c]));
    const cond = (type: string, status: string) => {
      const before = previous.get(type) as { status?: string; lastTransitionTime?: string } | undefined;
      return {
        type,
        status,
        lastTransitionTime:
          before?.status === status && before.lastTransitionTime ? before.lastTransitionTime : rfc3339(),
        lastProbeTime: null,
      };
    };
    return {
      phase,
      hostIP: this.hostIP,
      hostIPs: [{ ip: this.hostIP }],
      podIP: ip,
      podIPs: [{ ip }],
      startTime: started,
      conditions: [
        cond('PodReadyToStartContainers', 'True'),
        cond('Initialized', 'True'),
        cond('Ready', ready),
        cond('ContainersReady', ready),
        cond('PodScheduled', 'True'),
      ],
      containerStatuses: containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: c.imageId,
        ...(c.containerId ? { containerID: c.containerId } : {}),
        ready: isReady(c),
        started: c.view.state === 'running',
        restartCount: c.restarts,
        state: containerState(c.view),
        lastState: lastState(c),
      })),
    };
  }

  /** Credentials from the pod's imagePullSecrets (kubernetes.io/dockerconfigjson), as a kubelet finds them. */
  async #pullCredentials(pod: Pod): Promise<PullCredentials[]> {
    const out: PullCredentials[] = [];
    for (const s of pod.spec?.imagePullSecrets ?? []) {
      let secret: { data?: Record<string, string> };
      try {
        secret = await this.client.get(`/api/v1/namespaces/${pod.metadata?.namespace}/secrets/${s.name}`);
      } catch (err) {
        if (isNotFound(err)) continue; // a kubelet warns and pulls without it
        throw err;
      }
      const raw = secret.data?.['.dockerconfigjson'];
      if (!raw) continue;
      const auths =
        (
          JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as {
            auths?: Record<string, { username?: string; password?: string; auth?: string }>;
          }
        ).auths ?? {};
      for (const [prefix, a] of Object.entries(auths)) {
        const [username, password] = a.username
          ? [a.username, a.password ?? '']
          : (Buffer.from(a.auth ?? '', 'base64')
              .toString('utf8')
              .split(/:(.*)/s, 2) as [string, string]);
        out.push({ prefix, username, password: password ?? '' });
      }
    }
    return out;
  }
}

/** JSON with sorted keys: the apiserver's field order need not be ours. */
const stable = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.entries(x as Record<string, unknown>).sort(([p], [q]) => p.localeCompare(q)),
        )
      : x,
  );

function sameStatus(a: Pod['status'], b: NonNullable<Pod['status']>): boolean {
  if (!a || a.phase !== b.phase) return false;
  const view = (s: NonNullable<Pod['status']>) =>
    stable(
      (s.containerStatuses ?? []).map((c) => {
        const x = c as typeof c & { restartCount?: number; containerID?: string; lastState?: unknown };
        return [c.name, c.ready, c.state, x.restartCount, x.containerID, x.lastState];
      }),
    );
  return view(a) === view(b) && a.podIP === b.podIP;
}
