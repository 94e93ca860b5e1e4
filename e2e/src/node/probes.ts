import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { EventRecorder, KubeObject, Logger } from '@stateful-migration/kube';
import {
  httpOutcome,
  initialProbeState,
  probePort,
  probeStep,
  probeTiming,
  tcpOutcome,
  type Probe,
  type ProbeOutcome,
  type ProbeWorkerState,
} from './runtime/decisions.js';
import type { NodeRuntime } from './runtime/runtime.js';

const exec = promisify(execFile);
const NETNS_PROBE = fileURLToPath(new URL('./netns-probe.js', import.meta.url));

type Kind = 'liveness' | 'readiness';

export interface ProbedContainer {
  name: string;
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
}

export interface ProbedPod extends KubeObject {
  metadata?: KubeObject['metadata'];
  spec?: { containers: ProbedContainer[]; terminationGracePeriodSeconds?: number };
  status?: { podIP?: string };
}

interface Worker {
  containerId: string;
  state: ProbeWorkerState;
  timer: NodeJS.Timeout;
  busy: boolean;
}

/**
 * The kubelet's prober for one node: a worker per running container and probe (liveness, readiness), started
 * initialDelaySeconds after the container and run every periodSeconds with its timeout. Readiness sets the
 * container's `ready` (and so the pod's Ready); liveness failing failureThreshold times in a row kills the container,
 * which restarts by its pod's restartPolicy. Each failure is a Warning `Unhealthy` Event, each kill a Normal
 * `Killing`, as the kubelet words them. A new container (another ID) starts from the initial result.
 */
export class Prober {
  readonly #workers = new Map<string, Worker>();

  constructor(
    private readonly runtime: NodeRuntime,
    private readonly events: EventRecorder,
    /** Asks for the pod's status to be written again (a readiness change). */
    private readonly poke: (podKey: string) => void,
    private readonly log: Logger,
  ) {}

  /** Whether the container is ready: running, and its readiness probe (if any) says so. */
  ready(pod: ProbedPod, c: ProbedContainer, containerId: string): boolean {
    if (!c.readinessProbe) return true;
    const w = this.#workers.get(`${pod.metadata?.uid}/${c.name}/readiness`);
    return !!w && w.containerId === containerId && w.state.result;
  }

  /** Starts the workers of running containers (by ID) and stops the others. */
  sync(pod: ProbedPod, running: Map<string, string>, startedAt: Map<string, number>): void {
    const uid = pod.metadata?.uid ?? '';
    for (const c of pod.spec?.containers ?? [])
      for (const kind of ['liveness', 'readiness'] as const) {
        const probe = kind === 'liveness' ? c.livenessProbe : c.readinessProbe;
        const key = `${uid}/${c.name}/${kind}`;
        const id = running.get(c.name);
        const w = this.#workers.get(key);
        if (w && w.containerId === id) continue;
        if (w) clearTimeout(w.timer);
        // A stopped container's readiness worker stays (not ready) until another container replaces it.
        if (w && !id && kind === 'readiness') {
          this.#workers.set(key, { ...w, containerId: '', state: initialProbeState(kind) });
          continue;
        }
        this.#workers.delete(key);
        if (!probe || !id) continue;
        const t = probeTiming(probe);
        const delay = Math.max(0, (startedAt.get(c.name) ?? Date.now()) + t.initialDelayMs - Date.now());
        const worker: Worker = {
          containerId: id,
          state: initialProbeState(kind),
          busy: false,
          timer: setTimeout(() => this.#tick(pod, c, kind, probe, key), delay),
        };
        this.#workers.set(key, worker);
      }
  }

  stopPod(uid: string): void {
    for (const [k, w] of this.#workers)
      if (k.startsWith(`${uid}/`)) {
        clearTimeout(w.timer);
        this.#workers.delete(k);
      }
  }

  stop(): void {
    for (const w of this.#workers.values()) clearTimeout(w.timer);
    this.#workers.clear();
  }

  async #tick(pod: ProbedPod, c: ProbedContainer, kind: Kind, probe: Probe, key: string): Promise<void> {
    const w = this.#workers.get(key);
    if (!w) return;
    const t = probeTiming(probe);
    w.timer = setTimeout(() => void this.#tick(pod, c, kind, probe, key), t.periodMs);
    if (w.busy) return;
    w.busy = true;
    try {
      const outcome = await this.#probe(pod, c, probe, t.timeoutMs);
      const now = this.#workers.get(key);
      if (now !== w) return; // replaced or stopped meanwhile
      const podKey = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
      const obj = { ...pod, apiVersion: 'v1', kind: 'Pod' };
      if (!outcome.ok)
        this.events.emit(
          obj,
          'Warning',
          'Unhealthy',
          `${kind === 'liveness' ? 'Liveness' : 'Readiness'} probe failed: ${outcome.message}`,
        );
      const before = w.state.result;
      const { state, restart } = probeStep(kind, w.state, outcome.ok, t);
      w.state = state;
      if (state.result !== before && kind === 'readiness') this.poke(podKey);
      if (restart) {
        this.events.emit(
          obj,
          'Normal',
          'Killing',
          `Container ${c.name} failed liveness probe, will be restarted`,
        );
        // Stop probing this container: the next one (another ID) gets a new worker.
        clearTimeout(w.timer);
        await this.runtime.killContainer(
          pod.metadata?.uid ?? '',
          c.name,
          pod.spec?.terminationGracePeriodSeconds ?? 30,
        );
      }
    } catch (err) {
      this.log.warn({ pod: pod.metadata?.name, container: c.name, err: String(err) }, 'probe could not run');
    } finally {
      w.busy = false;
    }
  }

  async #probe(pod: ProbedPod, c: ProbedContainer, probe: Probe, timeoutMs: number): Promise<ProbeOutcome> {
    const uid = pod.metadata?.uid ?? '';
    const ip = pod.status?.podIP ?? '127.0.0.1';
    if (probe.exec) return this.runtime.execProbe(uid, c.name, probe.exec.command ?? [], timeoutMs);
    const target = probe.httpGet ?? probe.tcpSocket;
    if (!target) return { ok: true };
    const port = probePort(target.port, c.ports);
    if ('error' in port) return { ok: false, message: port.error };
    const pid = await this.runtime.containerPid(uid, c.name);
    if (!pid) return { ok: false, message: 'container is not running' };
    const run = async (args: string[]) => {
      const { stdout } = await exec(
        'nsenter',
        [`--net=/proc/${pid}/ns/net`, process.execPath, NETNS_PROBE, ...args],
        { timeout: timeoutMs + 5000 },
      );
      return JSON.parse(stdout) as { status?: number; error?: string; answer?: string };
    };
    if (probe.httpGet) {
      const scheme = (probe.httpGet.scheme ?? 'HTTP').toUpperCase();
      const path = probe.httpGet.path ?? '/';
      const url = `${scheme.toLowerCase()}://${ip}:${port.port}${path}`;
      const r = await run(['http', String(port.port), path, String(timeoutMs), scheme]);
      return httpOutcome(
        url,
        r.status !== undefined ? { status: r.status } : { error: r.error ?? 'unknown' },
      );
    }
    const r = await run(['tcp', String(port.port), '', String(timeoutMs)]);
    return tcpOutcome(`${ip}:${port.port}`, r.answer ?? 'unknown');
  }
}
