import {
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
import { containerState, lastState, podPhase, type RestartPolicy } from './runtime/decisions.js';
import type { PullCredentials } from './runtime/images.js';
import type { NodeRuntime, RuntimePod } from './runtime/runtime.js';

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
  };
  status?: {
    phase?: string;
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
  #gcTimer?: NodeJS.Timeout;

  constructor(
    private readonly client: RestClient,
    private readonly nodeName: string,
    private readonly nodeOctet: number,
    private readonly log: Logger,
    readonly runtime: NodeRuntime,
  ) {
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
      this.log.info({ uid }, 'removed the containers of a pod no longer bound here');
    }
  }

  async #sync(key: string): Promise<Result> {
    const pod = this.informer.get(key);
    if (!pod?.metadata?.name || !pod.spec) {
      const uid = this.#uids.get(key);
      if (uid) await this.runtime.removePod(uid);
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
      if (!(await this.runtime.stopPod(pod, grace))) return { requeueAfterMs: 500 };
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
    const { containers, requeueMs } = await this.runtime.sync(pod, () => this.#pullCredentials(pod));
    const desired = this.#status(pod, containers);
    if (!sameStatus(pod.status, desired)) {
      await writeStatus<Pod, Pod['status']>(this.client, path, (current) => {
        if (current.metadata?.uid !== pod.metadata?.uid || current.metadata?.deletionTimestamp)
          return undefined;
        return { ...current.status, ...desired };
      });
    }
    return requeueMs !== undefined ? { requeueAfterMs: requeueMs } : undefined;
  }

  #status(
    pod: Pod,
    containers: Awaited<ReturnType<NodeRuntime['sync']>>['containers'],
  ): NonNullable<Pod['status']> {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    let ip = this.#ips.get(key) ?? (pod.status?.podIP as string | undefined);
    if (!ip) {
      this.#podIndex++;
      ip = `10.${this.nodeOctet}.${Math.floor(this.#podIndex / 250)}.${(this.#podIndex % 250) + 2}`;
    }
    this.#ips.set(key, ip);
    const started = (pod.status?.startTime as string | undefined) ?? rfc3339();
    const policy: RestartPolicy = pod.spec?.restartPolicy ?? 'Always';
    const phase = podPhase(policy, containers);
    const ready = containers.every((c) => c.view.state === 'running') ? 'True' : 'False';
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
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
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
        ready: c.view.state === 'running',
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
