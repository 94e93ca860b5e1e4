import { createHash } from 'node:crypto';
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

export interface Container {
  name: string;
  image: string;
}

export interface Pod extends KubeObject {
  spec?: { nodeName?: string; containers: Container[]; initContainers?: Container[] };
  status?: {
    phase?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; ready: boolean; state?: Record<string, unknown> }[];
    [k: string]: unknown;
  };
}

/** How the stand-in runtime answers for one container: run it, or the waiting reason a kubelet would give. */
export type ContainerVerdict = { run: true } | { run: false; reason: string; message: string };
export type ContainerRuntime = (pod: Pod, container: Container) => Promise<ContainerVerdict>;

/** Every image runs: the default when no checkpoint images are involved. */
export const runEverything: ContainerRuntime = () => Promise.resolve({ run: true });

const rfc3339 = (d = new Date()): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Plays the kubelet's part for pods bound to one node, as kwok does: a pod goes Running with Ready containers,
 * and a pod being deleted is removed for good (grace period 0) once it is marked.
 */
export class PodLifecycle {
  readonly informer: Informer<Pod>;
  readonly #queue: WorkQueue<string>;
  #podIndex = 0;
  readonly #ips = new Map<string, string>();

  constructor(
    private readonly client: RestClient,
    private readonly nodeName: string,
    private readonly nodeOctet: number,
    private readonly log: Logger,
    private readonly runtime: ContainerRuntime = runEverything,
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
  }

  stop(): void {
    this.informer.stop();
    this.#queue.stop();
  }

  async #sync(key: string): Promise<Result> {
    const pod = this.informer.get(key);
    if (!pod?.metadata?.name || !pod.spec) return undefined;
    const path = `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`;
    if (pod.metadata.deletionTimestamp) {
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
    const verdicts = await Promise.all(pod.spec.containers.map((c) => this.runtime(pod, c)));
    const desired = this.#status(pod, verdicts);
    if (sameStatus(pod.status, desired)) return undefined;
    await writeStatus<Pod, Pod['status']>(this.client, path, (current) => {
      if (current.metadata?.uid !== pod.metadata?.uid || current.metadata?.deletionTimestamp)
        return undefined;
      return { ...current.status, ...desired };
    });
    return verdicts.every((v) => v.run) ? undefined : { requeueAfterMs: 10_000 };
  }

  #status(pod: Pod, verdicts: ContainerVerdict[]): NonNullable<Pod['status']> {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    let ip = this.#ips.get(key);
    if (!ip) {
      this.#podIndex++;
      ip = `10.${this.nodeOctet}.${Math.floor(this.#podIndex / 250)}.${(this.#podIndex % 250) + 2}`;
      this.#ips.set(key, ip);
    }
    const started = (pod.status?.startTime as string | undefined) ?? rfc3339();
    const allRun = verdicts.every((v) => v.run);
    const ready = allRun ? 'True' : 'False';
    const cond = (type: string, status: string) => ({
      type,
      status,
      lastTransitionTime: started,
      lastProbeTime: null,
    });
    return {
      phase: allRun ? 'Running' : 'Pending',
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
      containerStatuses: pod.spec!.containers.map((c, i) => {
        const v = verdicts[i]!;
        const id = createHash('sha256').update(`${pod.metadata?.uid}/${c.name}`).digest('hex');
        return {
          name: c.name,
          image: c.image,
          imageID: c.image,
          containerID: `cri-o://${id}`,
          ready: v.run,
          started: v.run,
          restartCount: 0,
          state: v.run
            ? { running: { startedAt: started } }
            : { waiting: { reason: v.reason, message: v.message } },
        };
      }),
    };
  }
}

function sameStatus(a: Pod['status'], b: NonNullable<Pod['status']>): boolean {
  if (!a || a.phase !== b.phase) return false;
  const ready = (s: NonNullable<Pod['status']>) =>
    (s.containerStatuses ?? []).map((c) => `${c.name}:${c.ready}:${JSON.stringify(c.state)}`).join(',');
  return ready(a) === ready(b) && a.podIP === b.podIP;
}
