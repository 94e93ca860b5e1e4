import { createHash } from 'node:crypto';
import { ARCHIVE_DIGESTS_ANNOTATION, parseArchiveDigests } from '@stateful-migration/api';

/**
 * The runtime's decisions as pure functions over plain data: the OCI spec of a container, what a kubelet reports
 * for a container and a pod, when it restarts a container, and how it serves a CRI log. The I/O around them is in
 * runc.ts, images.ts and runtime.ts.
 */

export { CHECKPOINT_RESTORE_SETTINGS, type CheckpointRestoreSetting } from '@stateful-migration/api';

/** The annotation by which CRI-O recognises a checkpoint image (on the manifest). */
export const CHECKPOINT_NAME_ANNOTATION = 'io.kubernetes.cri-o.annotations.checkpoint.name';

/** The runtime's container ID: 64 hex digits, as CRI-O's, one per pod, container and attempt. */
export const containerId = (podUid: string, container: string, attempt: number): string =>
  createHash('sha256').update(`${podUid}/${container}/${attempt}`).digest('hex');

export interface ImageConfig {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
}

export interface PodContainer {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

/** The process a container runs, as the kubelet combines the image's config with the pod's command and args. */
export function processArgs(image: ImageConfig, c: PodContainer): string[] {
  // Kubernetes: command replaces ENTRYPOINT (and drops CMD); args alone replace CMD.
  if (c.command?.length) return [...c.command, ...(c.args ?? [])];
  return [...(image.Entrypoint ?? []), ...(c.args?.length ? c.args : (image.Cmd ?? []))];
}

/** The container's environment: the image's, then the pod's literal values (valueFrom is not resolved here). */
export function processEnv(image: ImageConfig, c: PodContainer): string[] {
  const env = new Map<string, string>();
  for (const kv of image.Env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']) {
    const i = kv.indexOf('=');
    if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
  }
  for (const e of c.env ?? []) if (e.value !== undefined) env.set(e.name, e.value);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

export interface SpecInput {
  rootfs: string;
  args: string[];
  env: string[];
  cwd: string;
  hostname: string;
  /** Bind mounts of the pod's volumes: host directory and container path. */
  binds: { source: string; destination: string; readOnly: boolean }[];
  annotations: Record<string, string>;
}

/**
 * The OCI runtime spec of a pod's container: runc's default spec (its own PID, mount, IPC, UTS and network
 * namespaces, runc's default capabilities and masked paths), no terminal (conmon holds its stdout and stderr as
 * pipes, which CRIU keeps as external descriptors), the pod's volumes as bind mounts, and CRI-O's annotations,
 * which checkpointctl and a restore read back from spec.dump.
 */
export function ociSpec(i: SpecInput): Record<string, unknown> {
  const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: i.args,
      env: i.env,
      cwd: i.cwd || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, ambient: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: i.rootfs, readonly: false },
    hostname: i.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      {
        destination: '/dev/mqueue',
        type: 'mqueue',
        source: 'mqueue',
        options: ['nosuid', 'noexec', 'nodev'],
      },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      ...i.binds.map((b) => ({
        destination: b.destination,
        type: 'bind',
        source: b.source,
        options: ['rbind', 'rprivate', b.readOnly ? 'ro' : 'rw'],
      })),
    ],
    annotations: i.annotations,
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/** CRI-O's annotations on a container's spec, which checkpointctl shows and a restore matches on. */
export function crioAnnotations(p: {
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
  attempt: number;
  image: string;
  podAnnotations: Record<string, string>;
  labels: Record<string, string>;
}): Record<string, string> {
  return {
    'io.container.manager': 'cri-o',
    'io.kubernetes.container.name': p.container,
    'io.kubernetes.pod.name': p.pod,
    'io.kubernetes.pod.namespace': p.namespace,
    'io.kubernetes.pod.uid': p.podUid,
    'io.kubernetes.cri-o.ContainerType': 'container',
    'io.kubernetes.cri-o.ContainerName': `k8s_${p.container}_${p.pod}_${p.namespace}_${p.podUid}_${p.attempt}`,
    'io.kubernetes.cri-o.ImageName': p.image,
    'io.kubernetes.cri-o.Metadata': JSON.stringify({ name: p.container, attempt: p.attempt }),
    'io.kubernetes.cri-o.Annotations': JSON.stringify(p.podAnnotations),
    'io.kubernetes.cri-o.Labels': JSON.stringify({
      ...p.labels,
      'io.kubernetes.container.name': p.container,
      'io.kubernetes.pod.name': p.pod,
      'io.kubernetes.pod.namespace': p.namespace,
      'io.kubernetes.pod.uid': p.podUid,
    }),
  };
}

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

/** The kubelet's crash-loop back-off: 10 s doubling per restart, at most 5 minutes. */
export const restartBackoffMs = (restarts: number): number => Math.min(10_000 * 2 ** restarts, 300_000);

/** Whether an exited container is started again, and when (ms since the epoch). */
export function restartAfter(
  policy: RestartPolicy,
  exitCode: number,
  restarts: number,
  finishedAtMs: number,
): number | undefined {
  if (policy === 'Never' || (policy === 'OnFailure' && exitCode === 0)) return undefined;
  return finishedAtMs + restartBackoffMs(restarts);
}

/** One container as the runtime sees it, and the kubelet's status for it. */
export type ContainerView =
  | { state: 'waiting'; reason: string; message?: string; everStarted: boolean }
  | { state: 'running'; startedAt: string }
  | { state: 'exited'; exitCode: number; startedAt: string; finishedAt: string };

export interface ContainerRecordView {
  view: ContainerView;
  restarts: number;
  /** The previous attempt's end, shown as lastState. */
  last?: { exitCode: number; startedAt: string; finishedAt: string };
}

const terminated = (t: { exitCode: number; startedAt: string; finishedAt: string }) => ({
  terminated: {
    exitCode: t.exitCode,
    reason: t.exitCode === 0 ? 'Completed' : 'Error',
    startedAt: t.startedAt,
    finishedAt: t.finishedAt,
  },
});

export function containerState(v: ContainerView): Record<string, unknown> {
  switch (v.state) {
    case 'waiting':
      return { waiting: { reason: v.reason, ...(v.message ? { message: v.message } : {}) } };
    case 'running':
      return { running: { startedAt: v.startedAt } };
    case 'exited':
      return terminated(v);
  }
}

export const lastState = (r: ContainerRecordView): Record<string, unknown> =>
  r.last ? terminated(r.last) : {};

/**
 * The pod's phase as the kubelet computes it: Pending until every container has started once; then Running while
 * any runs or will be restarted; Succeeded or Failed once every container has ended for good.
 */
export function podPhase(policy: RestartPolicy, containers: ContainerRecordView[]): string {
  const started = containers.every(
    (c) => c.view.state !== 'waiting' || c.view.everStarted || c.restarts > 0 || c.last,
  );
  if (!started) return 'Pending';
  if (policy === 'Always') return 'Running';
  const exited = containers.map((c) => (c.view.state === 'exited' ? c.view.exitCode : undefined));
  if (exited.some((e) => e === undefined)) return 'Running';
  if (exited.every((e) => e === 0)) return 'Succeeded';
  return policy === 'Never' ? 'Failed' : 'Running';
}

/** One line of a CRI log file: `<RFC3339Nano> <stream> <P|F> <content>`. */
export interface CriLogLine {
  time: string;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  content: string;
}

export function parseCriLogLine(line: string): CriLogLine | undefined {
  const m = /^(\S+) (stdout|stderr) ([PF]) (.*)$/s.exec(line);
  if (!m) return undefined;
  return { time: m[1]!, stream: m[2] as 'stdout' | 'stderr', partial: m[3] === 'P', content: m[4]! };
}

export interface LogOptions {
  timestamps?: boolean;
  tailLines?: number;
  /** Only lines at or after this time (ms since the epoch). */
  sinceMs?: number;
  limitBytes?: number;
}

/** What the kubelet's containerLogs endpoint answers for a CRI log file's text: the lines' content, in order. */
export function renderLogs(text: string, o: LogOptions = {}): string {
  let lines = text
    .split('\n')
    .map(parseCriLogLine)
    .filter((l): l is CriLogLine => !!l);
  if (o.sinceMs !== undefined) lines = lines.filter((l) => Date.parse(l.time) >= o.sinceMs!);
  // Partial lines are joined with what follows, as the kubelet does.
  const whole: CriLogLine[] = [];
  let pending = '';
  for (const l of lines) {
    if (l.partial) {
      pending += l.content;
      continue;
    }
    whole.push({ ...l, content: pending + l.content });
    pending = '';
  }
  const tail = o.tailLines;
  const shown = tail === undefined || tail < 0 ? whole : tail === 0 ? [] : whole.slice(-tail);
  const out = shown.map((l) => `${o.timestamps ? `${l.time} ` : ''}${l.content}\n`).join('');
  return o.limitBytes !== undefined ? Buffer.from(out).subarray(0, o.limitBytes).toString() : out;
}

/**
 * Why a checkpoint image's archive is not the one recorded at checkpoint time, or undefined when it is (or when the
 * pod names no expected digest for the container: a restore made without a record, which CRI-O allows too).
 * `expected` is the restored pod's annotation (migration.dcnlab.com/checkpoint-archive-digests); `unpacked` the
 * digests of the image's layers as this node decrypted and uncompressed them.
 */
export function archiveMismatch(
  container: string,
  image: string,
  expected: string | undefined,
  unpacked: string[],
): string | undefined {
  const want = parseArchiveDigests(expected)[container];
  if (!want) return undefined;
  const got = unpacked.at(-1);
  if (unpacked.length === 1 && got === want) return undefined;
  return (
    `checkpoint image ${image} of container ${container} unpacks to archive ${got ?? '(unknown)'}` +
    `${unpacked.length > 1 ? ` (${unpacked.length} layers)` : ''}, not ${want} as recorded when it was checkpointed ` +
    `(${ARCHIVE_DIGESTS_ANNOTATION}): refusing to restore an archive that is not the one checkpointed`
  );
}
