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
  User?: string;
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
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  resources?: ContainerResources;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
}

/** The process a container runs, as the kubelet combines the image's config with the pod's command and args. */
export function processArgs(image: ImageConfig, c: PodContainer): string[] {
  // Kubernetes: command replaces ENTRYPOINT (and drops CMD); args alone replace CMD.
  if (c.command?.length) return [...c.command, ...(c.args ?? [])];
  return [...(image.Entrypoint ?? []), ...(c.args?.length ? c.args : (image.Cmd ?? []))];
}

/**
 * The container's environment: the image's, then the pod's: `resolved` as the kubelet made it (containerEnv), or
 * without it the literal values only.
 */
export function processEnv(image: ImageConfig, c: PodContainer, resolved?: [string, string][]): string[] {
  const env = new Map<string, string>();
  for (const kv of image.Env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']) {
    const i = kv.indexOf('=');
    if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
  }
  if (resolved) for (const [k, v] of resolved) env.set(k, v);
  else for (const e of c.env ?? []) if (e.value !== undefined) env.set(e.name, e.value);
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
  /** The user and privileges (processSecurity); without it, CRI-O's defaults for a root container. */
  security?: ProcessSecurity;
  /** The host's devices, which a privileged container gets as CRI-O gives them. */
  hostDevices?: { path: string; type: 'c' | 'b'; major: number; minor: number; fileMode: number }[];
  /** The pod's network namespace (its sandbox's, shared by the pod's containers); without it, one of its own. */
  netns?: string;
}

/**
 * The OCI runtime spec of a pod's container: runc's default spec (its own PID, mount, IPC, UTS and network
 * namespaces, runc's default capabilities and masked paths), no terminal (conmon holds its stdout and stderr as
 * pipes, which CRIU keeps as external descriptors), the pod's volumes as bind mounts, and CRI-O's annotations,
 * which checkpointctl and a restore read back from spec.dump.
 */
export function ociSpec(i: SpecInput): Record<string, unknown> {
  const sec: ProcessSecurity = i.security ?? {
    uid: 0,
    gid: 0,
    additionalGids: [],
    capabilities: CRIO_DEFAULT_CAPABILITIES,
    noNewPrivileges: false,
    readonlyRootfs: false,
    privileged: false,
  };
  const caps = sec.capabilities;
  // A non-root process keeps only its bounding set: the kernel clears effective and permitted at exec.
  const held = sec.uid === 0 ? caps : [];
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: {
        uid: sec.uid,
        gid: sec.gid,
        ...(sec.additionalGids.length ? { additionalGids: sec.additionalGids } : {}),
      },
      args: i.args,
      env: i.env,
      cwd: i.cwd || '/',
      capabilities: { bounding: caps, effective: held, permitted: held },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: sec.noNewPrivileges,
    },
    root: { path: i.rootfs, readonly: sec.readonlyRootfs },
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
      {
        destination: '/sys',
        type: 'sysfs',
        source: 'sysfs',
        options: ['nosuid', 'noexec', 'nodev', sec.privileged ? 'rw' : 'ro'],
      },
      ...i.binds.map((b) => ({
        destination: b.destination,
        type: 'bind',
        source: b.source,
        options: ['rbind', 'rprivate', b.readOnly ? 'ro' : 'rw'],
      })),
    ],
    annotations: i.annotations,
    linux: {
      resources: { devices: [{ allow: sec.privileged, access: 'rwm' }] },
      ...(sec.privileged && i.hostDevices?.length ? { devices: i.hostDevices } : {}),
      namespaces: [
        { type: 'pid' },
        i.netns ? { type: 'network', path: i.netns } : { type: 'network' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
      ],
      // A privileged container sees /proc and /sys as the host does.
      maskedPaths: sec.privileged
        ? []
        : [
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
      readonlyPaths: sec.privileged
        ? []
        : ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
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

// ---------------------------------------------------------------------------------------------------------------
// What the kubelet hands the runtime for a container: volumes as files on the node, the environment, the user and
// privileges. The kubelet's own decisions, pure; pods.ts and volumes.ts fetch what they need and write the files.
// ---------------------------------------------------------------------------------------------------------------

/** What is at a hostPath on the node, as the kubelet's type check sees it (after following symbolic links). */
export type HostPathKind = 'missing' | 'directory' | 'file' | 'socket' | 'char' | 'block';

/**
 * The kubelet's hostPath type check (pkg/volume/hostpath): what to create, or the error the mount fails with.
 * An unset type checks nothing (the container runtime then binds whatever is there, creating a directory).
 */
export function hostPathCheck(
  type: string | undefined,
  path: string,
  found: HostPathKind,
): { create?: 'directory' | 'file' } | { error: string } {
  const fail = (what: string) => ({ error: `hostPath type check failed: ${path} is not ${what}` });
  switch (type ?? '') {
    case '':
      return found === 'missing' ? { create: 'directory' } : {};
    case 'DirectoryOrCreate':
      if (found === 'missing') return { create: 'directory' };
      return found === 'directory' ? {} : fail('a directory');
    case 'Directory':
      return found === 'directory' ? {} : fail('a directory');
    case 'FileOrCreate':
      if (found === 'missing') return { create: 'file' };
      return found === 'file' ? {} : fail('a file');
    case 'File':
      return found === 'file' ? {} : fail('a file');
    case 'Socket':
      return found === 'socket' ? {} : fail('a socket file');
    case 'CharDevice':
      return found === 'char' ? {} : fail('a character device');
    case 'BlockDevice':
      return found === 'block' ? {} : fail('a block device');
    default:
      return { error: `hostPath type check failed: unknown type ${type}` };
  }
}

/** The kubelet's root directory on a node with the default --root-dir: the path pods and the agent know it by. */
export const NODE_KUBELET_ROOT = '/var/lib/kubelet';

/**
 * Where a hostPath is on this machine: each stand-in node has its own root (`.fed/nodes/<node>/`), and its
 * kubelet's root directory (`/var/lib/kubelet`) is the stand-in's --root-dir, so a pod given /var/lib/kubelet/... sees
 * what this kubelet writes there (checkpoint archives). A path that climbs out of the node's root stays inside it.
 */
export function hostPathOnNode(path: string, nodeRoot: string, kubeletRoot: string): string {
  const parts: string[] = [];
  for (const p of path.split('/')) {
    if (!p || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  const clean = `/${parts.join('/')}`;
  if (clean === NODE_KUBELET_ROOT || clean.startsWith(`${NODE_KUBELET_ROOT}/`))
    return kubeletRoot + clean.slice(NODE_KUBELET_ROOT.length);
  return nodeRoot.replace(/\/$/, '') + (clean === '/' ? '' : clean);
}

/** One file of a secret, configMap, downwardAPI or projected volume: its path inside the volume, bytes and mode. */
export interface VolumeFile {
  path: string;
  content: Buffer;
  mode: number;
}

export interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

/** A secret's or configMap's data as bytes per key, or undefined when it does not exist. */
export type KeyedData = Record<string, Buffer> | undefined;

/** The bytes of a Secret (data is base64) or a ConfigMap (data as text, binaryData as base64). */
export function keyedData(
  kind: 'secret' | 'configMap',
  obj: { data?: Record<string, string>; binaryData?: Record<string, string> } | undefined,
): KeyedData {
  if (!obj) return undefined;
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(obj.data ?? {}))
    out[k] = kind === 'secret' ? Buffer.from(v, 'base64') : Buffer.from(v, 'utf8');
  if (kind === 'configMap')
    for (const [k, v] of Object.entries(obj.binaryData ?? {})) out[k] = Buffer.from(v, 'base64');
  return out;
}

/**
 * The files of a secret or configMap volume (or projected source), as the kubelet writes them: every key, or only
 * `items` at their paths, with the item's mode, else defaultMode, else 0644. A missing object or key fails the
 * mount with the kubelet's message, unless `optional`.
 */
export function keyedFiles(
  kind: 'secret' | 'configMap',
  name: string,
  data: KeyedData,
  src: { items?: KeyToPath[]; defaultMode?: number; optional?: boolean },
): { files: VolumeFile[] } | { error: string } {
  const mode = (m?: number) => m ?? src.defaultMode ?? 0o644;
  if (!data) {
    if (src.optional) return { files: [] };
    return { error: `${kind === 'secret' ? 'secret' : 'configmap'} "${name}" not found` };
  }
  if (!src.items?.length)
    return {
      files: Object.keys(data)
        .sort()
        .map((k) => ({ path: k, content: data[k]!, mode: mode() })),
    };
  const files: VolumeFile[] = [];
  for (const it of src.items) {
    const content = data[it.key];
    if (!content) {
      if (src.optional) continue;
      return {
        error:
          kind === 'secret'
            ? `references non-existent secret key: ${it.key}`
            : `configmap references non-existent config key: ${it.key}`,
      };
    }
    files.push({ path: it.path, content, mode: mode(it.mode) });
  }
  return { files };
}

/** The pod's fields the downward API reads. */
export interface DownwardPod {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: { nodeName?: string; serviceAccountName?: string };
  status?: { hostIP?: string; podIP?: string; podIPs?: { ip: string }[]; hostIPs?: { ip: string }[] };
}

/** `k="v"` lines, sorted by key, as the downward API writes labels and annotations (Go's %q quoting). */
const formatMap = (m: Record<string, string> = {}): string =>
  Object.keys(m)
    .sort()
    .map((k) => `${k}=${JSON.stringify(m[k])}`)
    .join('\n');

/**
 * The value of a downward API fieldPath, or an error naming the path. `env` admits the fields only env may read
 * (spec.*, status.*); volumes admit the metadata ones.
 */
export function fieldValue(
  pod: DownwardPod,
  fieldPath: string,
  use: 'env' | 'volume',
): { value: string } | { error: string } {
  const m = pod.metadata ?? {};
  const sub = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (sub) return { value: (sub[1] === 'labels' ? m.labels : m.annotations)?.[sub[2]!] ?? '' };
  const meta: Record<string, () => string> = {
    'metadata.name': () => m.name ?? '',
    'metadata.namespace': () => m.namespace ?? '',
    'metadata.uid': () => m.uid ?? '',
    'metadata.labels': () => formatMap(m.labels),
    'metadata.annotations': () => formatMap(m.annotations),
  };
  const envOnly: Record<string, () => string> = {
    'spec.nodeName': () => pod.spec?.nodeName ?? '',
    'spec.serviceAccountName': () => pod.spec?.serviceAccountName ?? '',
    'status.hostIP': () => pod.status?.hostIP ?? '',
    'status.hostIPs': () => (pod.status?.hostIPs ?? []).map((i) => i.ip).join(','),
    'status.podIP': () => pod.status?.podIP ?? '',
    'status.podIPs': () => (pod.status?.podIPs ?? []).map((i) => i.ip).join(','),
  };
  const get =
    meta[fieldPath] ??
    (use === 'env' && fieldPath !== 'metadata.labels' && fieldPath !== 'metadata.annotations'
      ? envOnly[fieldPath]
      : undefined);
  if (use === 'env' && (fieldPath === 'metadata.labels' || fieldPath === 'metadata.annotations'))
    return { error: `unsupported fieldPath for env: ${fieldPath}` };
  return get ? { value: get() } : { error: `unsupported fieldPath: ${fieldPath}` };
}

/** A container's resources, for resourceFieldRef (quantities as the API gives them). */
export interface ContainerResources {
  limits?: Record<string, string>;
  requests?: Record<string, string>;
}

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** A Kubernetes quantity as a number (1500m = 1.5, 1Gi = 2^30), or undefined when it is not one. */
export function parseQuantity(q: string): number | undefined {
  const m = /^([+-]?\d+(?:\.\d+)?)(?:[eE]([+-]?\d+))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$/.exec(q.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * (m[2] ? 10 ** Number(m[2]) : 1);
  return n * (BINARY[m[3]!] ?? DECIMAL[m[3]!] ?? 1);
}

/**
 * resourceFieldRef as the kubelet resolves it: the limit (or request) divided by the divisor (default 1), rounded
 * up; a limit not set is the node's allocatable (given by the caller), as the kubelet defaults it.
 */
export function resourceValue(
  res: ContainerResources | undefined,
  ref: { resource: string; divisor?: string },
  allocatable: { cpu: string; memory: string; 'ephemeral-storage': string },
): { value: string } | { error: string } {
  const [kind, name] = ref.resource.split('.', 2) as [string, string];
  if ((kind !== 'limits' && kind !== 'requests') || !['cpu', 'memory', 'ephemeral-storage'].includes(name))
    return { error: `unsupported container resource : ${ref.resource}` };
  const set = kind === 'limits' ? res?.limits?.[name] : (res?.requests?.[name] ?? res?.limits?.[name]);
  const raw =
    set ?? (kind === 'limits' ? allocatable[name as keyof typeof allocatable] : name === 'cpu' ? '0' : '0');
  const v = parseQuantity(raw);
  const d = parseQuantity(ref.divisor ?? '1');
  if (v === undefined || !d) return { error: `invalid quantity for ${ref.resource}` };
  // The kubelet rounds up (cpu: a request of 250m with divisor 1 is 1).
  return { value: String(Math.ceil(v / d - 1e-9)) };
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    resourceFieldRef?: { resource: string; divisor?: string; containerName?: string };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
  };
}

export interface EnvFromSource {
  prefix?: string;
  secretRef?: { name: string; optional?: boolean };
  configMapRef?: { name: string; optional?: boolean };
}

/** The secrets and configMaps a container's env and envFrom read, so the kubelet fetches each once. */
export function envReferences(c: { env?: EnvVar[]; envFrom?: EnvFromSource[] }): {
  secrets: string[];
  configMaps: string[];
} {
  const secrets = new Set<string>();
  const configMaps = new Set<string>();
  for (const f of c.envFrom ?? []) {
    if (f.secretRef) secrets.add(f.secretRef.name);
    if (f.configMapRef) configMaps.add(f.configMapRef.name);
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom?.secretKeyRef) secrets.add(e.valueFrom.secretKeyRef.name);
    if (e.valueFrom?.configMapKeyRef) configMaps.add(e.valueFrom.configMapKeyRef.name);
  }
  return { secrets: [...secrets].sort(), configMaps: [...configMaps].sort() };
}

/**
 * `$(VAR)` references as Kubernetes expands them in env values, command and args: a defined variable is replaced,
 * `$$` is a literal `$`, anything else (an undefined name, an unclosed reference) stays as written.
 */
export function expandVars(s: string, vars: (name: string) => string | undefined): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '$' || i + 1 >= s.length) {
      out += s[i];
      continue;
    }
    const next = s[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const end = s.indexOf(')', i + 2);
      if (end < 0) {
        out += s.slice(i);
        break;
      }
      const name = s.slice(i + 2, end);
      const v = name ? vars(name) : undefined;
      out += v ?? s.slice(i, end + 1);
      i = end;
    } else out += '$';
  }
  return out;
}

/** A name envFrom may define (the API's C_IDENTIFIER-like rule: no '=' and printable, here as the kubelet checks). */
const validEnvName = (n: string): boolean => /^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(n);

/**
 * The container's environment as the kubelet makes it (kubelet_pods.go makeEnvironmentVariables): the service
 * variables, then envFrom in order (invalid names skipped), then env in order, each value's $(VAR) expanded against
 * what is defined so far. A missing secret or configMap, or key, that is not optional is the kubelet's
 * CreateContainerConfigError, with its message.
 */
export function containerEnv(
  c: { name: string; env?: EnvVar[]; envFrom?: EnvFromSource[]; resources?: ContainerResources },
  pod: DownwardPod & { spec?: { containers?: { name: string; resources?: ContainerResources }[] } },
  objects: { secrets: Record<string, KeyedData>; configMaps: Record<string, KeyedData> },
  serviceEnv: Record<string, string>,
  allocatable: { cpu: string; memory: string; 'ephemeral-storage': string },
): { env: [string, string][]; skipped: string[] } | { error: string } {
  const ns = pod.metadata?.namespace ?? '';
  const env = new Map<string, string>(Object.entries(serviceEnv));
  const skipped: string[] = [];
  for (const f of c.envFrom ?? []) {
    const ref = f.secretRef ?? f.configMapRef;
    if (!ref) continue;
    const kind = f.secretRef ? 'secret' : 'configmap';
    const data = f.secretRef ? objects.secrets[ref.name] : objects.configMaps[ref.name];
    if (!data) {
      if (ref.optional) continue;
      return { error: `${kind} "${ref.name}" not found` };
    }
    for (const k of Object.keys(data)) {
      const name = (f.prefix ?? '') + k;
      if (!validEnvName(name)) skipped.push(name);
      else env.set(name, data[k]!.toString('utf8'));
    }
  }
  const lookup = (n: string) => env.get(n);
  for (const e of c.env ?? []) {
    const from = e.valueFrom;
    if (!from) {
      env.set(e.name, expandVars(e.value ?? '', lookup));
      continue;
    }
    let r: { value: string } | { error: string } | undefined;
    if (from.fieldRef) r = fieldValue(pod, from.fieldRef.fieldPath, 'env');
    else if (from.resourceFieldRef) {
      const target = from.resourceFieldRef.containerName
        ? pod.spec?.containers?.find((x) => x.name === from.resourceFieldRef!.containerName)?.resources
        : c.resources;
      r = resourceValue(target, from.resourceFieldRef, allocatable);
    } else {
      const ref = from.secretKeyRef ?? from.configMapKeyRef;
      if (!ref) continue;
      const isSecret = !!from.secretKeyRef;
      const data = isSecret ? objects.secrets[ref.name] : objects.configMaps[ref.name];
      if (!data) {
        if (ref.optional) continue;
        return { error: `${isSecret ? 'secret' : 'configmap'} "${ref.name}" not found` };
      }
      const v = data[ref.key];
      if (v === undefined) {
        if (ref.optional) continue;
        return {
          error: `couldn't find key ${ref.key} in ${isSecret ? 'Secret' : 'ConfigMap'} ${ns}/${ref.name}`,
        };
      }
      r = { value: v.toString('utf8') };
    }
    if ('error' in r) return r;
    env.set(e.name, r.value);
  }
  return { env: [...env], skipped };
}

/**
 * The service environment variables the kubelet gives every pod (enableServiceLinks aside, always those of the
 * `kubernetes` Service in default), in docker-links form.
 */
export function serviceEnv(
  services: {
    name: string;
    clusterIP?: string;
    ports?: { name?: string; port: number; protocol?: string }[];
  }[],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of services) {
    if (!s.clusterIP || s.clusterIP === 'None' || !s.ports?.length) continue;
    const n = s.name.toUpperCase().replace(/-/g, '_');
    out[`${n}_SERVICE_HOST`] = s.clusterIP;
    out[`${n}_SERVICE_PORT`] = String(s.ports[0]!.port);
    for (const p of s.ports)
      if (p.name) out[`${n}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.port);
    const first = s.ports[0]!;
    out[`${n}_PORT`] = `${(first.protocol ?? 'TCP').toLowerCase()}://${s.clusterIP}:${first.port}`;
    for (const p of s.ports) {
      const proto = p.protocol ?? 'TCP';
      const pre = `${n}_PORT_${p.port}_${proto}`;
      out[pre] = `${proto.toLowerCase()}://${s.clusterIP}:${p.port}`;
      out[`${pre}_PROTO`] = proto.toLowerCase();
      out[`${pre}_PORT`] = String(p.port);
      out[`${pre}_ADDR`] = s.clusterIP;
    }
  }
  return out;
}

export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
}

export interface PodSecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
  supplementalGroups?: number[];
}

/** CRI-O's default_capabilities: what a container that adds and drops nothing gets. */
export const CRIO_DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_KILL',
];

/** Every capability Linux defines, which a privileged container (or `add: [ALL]`) gets. */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** The capabilities a /proc status mask (CapBnd, CapEff: hex, bit n = capability n) holds, by name. */
export function capabilitiesOfMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return ALL_CAPABILITIES.filter((_c, i) => (mask >> BigInt(i)) & 1n);
}

const capName = (c: string): string => {
  const u = c.toUpperCase();
  return u.startsWith('CAP_') ? u : `CAP_${u}`;
};

/** The process's user and privileges as the kubelet asks them of CRI-O and CRI-O writes them into the OCI spec. */
export interface ProcessSecurity {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** The bounding set; effective and permitted too for root (a non-root process keeps none of them). */
  capabilities: string[];
  noNewPrivileges: boolean;
  readonlyRootfs: boolean;
  privileged: boolean;
}

/** `name:x:uid:gid:...` lines of an image's /etc/passwd, and `name:x:gid:members` of /etc/group. */
export interface ImageAccounts {
  passwd?: string;
  group?: string;
}

function imageUser(
  user: string | undefined,
  accounts: ImageAccounts,
): { uid?: number; gid?: number; name?: string; error?: string } {
  if (!user) return { uid: 0, name: 'root' };
  const [u, g] = user.split(':', 2) as [string, string | undefined];
  const rows = (accounts.passwd ?? '').split('\n').map((l) => l.split(':'));
  let uid: number | undefined;
  let gid: number | undefined;
  let name: string | undefined;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    const row = rows.find((r) => r[2] === u);
    name = row?.[0];
    gid = row ? Number(row[3]) : undefined;
  } else {
    const row = rows.find((r) => r[0] === u);
    if (!row) return { name: u, error: `unable to find user ${u}: no matching entries in passwd file` };
    uid = Number(row[2]);
    gid = Number(row[3]);
    name = u;
  }
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const row = (accounts.group ?? '').split('\n').find((l) => l.split(':')[0] === g);
      if (!row) return { error: `unable to find group ${g}: no matching entries in group file` };
      gid = Number(row.split(':')[2]);
    }
  }
  return { uid, gid: gid ?? 0, ...(name ? { name } : {}) };
}

/**
 * A container's security context as Kubernetes defines it and CRI-O applies it: the container's runAsUser,
 * runAsGroup and runAsNonRoot override the pod's; fsGroup and supplementalGroups (pod only) join the image's groups
 * of the user; privileged gives every capability; capabilities add then drop (ALL in either); allowPrivilegeEscalation
 * is true unless set false (and is always true with privileged or CAP_SYS_ADMIN). runAsNonRoot refuses uid 0, and an
 * image user it cannot check, with the kubelet's CreateContainerConfigError message.
 */
export function processSecurity(
  /** ref: the pod as the kubelet names it in messages, name_namespace(uid). */
  pod: { ref: string; securityContext?: PodSecurityContext },
  c: { name: string; securityContext?: SecurityContext },
  image: { User?: string },
  accounts: ImageAccounts,
  /** What the runtime can give (its own bounding set): privileged and `add: [ALL]` get these. */
  available: string[] = ALL_CAPABILITIES,
): ProcessSecurity | { error: string } {
  const p = pod.securityContext ?? {};
  const s = c.securityContext ?? {};
  const runAsUser = s.runAsUser ?? p.runAsUser;
  const runAsGroup = s.runAsGroup ?? p.runAsGroup;
  const nonRoot = s.runAsNonRoot ?? p.runAsNonRoot;
  const fromImage = imageUser(image.User, accounts);
  if (nonRoot) {
    // The kubelet's verifyRunAsNonRoot, with format.Pod's name_namespace(uid).
    const at = `(pod: "${pod.ref}", container: ${c.name})`;
    if (runAsUser === 0) return { error: `container's runAsUser breaks non-root policy ${at}` };
    if (runAsUser === undefined && image.User && !/^\d+(:|$)/.test(image.User))
      return {
        error: `container has runAsNonRoot and image has non-numeric user (${image.User.split(':')[0]}), cannot verify user is non-root ${at}`,
      };
    if (runAsUser === undefined && fromImage.uid === 0)
      return { error: `container has runAsNonRoot and image will run as root ${at}` };
  }
  let uid: number;
  let gid: number;
  let userName: string | undefined;
  if (runAsUser !== undefined) {
    uid = runAsUser;
    const row = (accounts.passwd ?? '')
      .split('\n')
      .map((l) => l.split(':'))
      .find((r) => r[2] === String(uid));
    gid = runAsGroup ?? (row ? Number(row[3]) : 0);
    userName = row?.[0];
  } else {
    if (fromImage.error) return { error: fromImage.error };
    uid = fromImage.uid!;
    gid = runAsGroup ?? fromImage.gid ?? 0;
    userName = fromImage.name;
  }
  const groups = new Set<number>();
  if (userName)
    for (const l of (accounts.group ?? '').split('\n')) {
      const f = l.split(':');
      if (f.length >= 4 && f[3]!.split(',').includes(userName)) groups.add(Number(f[2]));
    }
  for (const g of p.supplementalGroups ?? []) groups.add(g);
  if (p.fsGroup !== undefined) groups.add(p.fsGroup);
  groups.delete(gid);
  const privileged = !!s.privileged;
  let caps: string[];
  if (privileged) caps = [...available];
  else {
    const add = (s.capabilities?.add ?? []).map(capName);
    const drop = (s.capabilities?.drop ?? []).map(capName);
    caps = add.includes('CAP_ALL') ? [...available] : [...CRIO_DEFAULT_CAPABILITIES];
    for (const a of add) if (a !== 'CAP_ALL' && !caps.includes(a)) caps.push(a);
    caps = drop.includes('CAP_ALL')
      ? caps.filter((x) => add.includes(x) && x !== 'CAP_ALL')
      : caps.filter((x) => !drop.includes(x));
  }
  // The kubelet's AddNoNewPrivileges: only an explicit false, and never for a privileged container.
  const noNewPrivileges = !privileged && s.allowPrivilegeEscalation === false;
  return {
    uid,
    gid,
    additionalGids: [...groups].sort((a, b) => a - b),
    capabilities: caps,
    noNewPrivileges,
    readonlyRootfs: !!s.readOnlyRootFilesystem,
    privileged,
  };
}

export interface Probe {
  httpGet?: {
    path?: string;
    port: number | string;
    scheme?: string;
    httpHeaders?: { name: string; value: string }[];
  };
  tcpSocket?: { port: number | string };
  exec?: { command?: string[] };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  successThreshold?: number;
}

/** A probe's timing and thresholds with the API's defaults (0 s delay, every 10 s, 1 s timeout, 3 failures, 1 success). */
export function probeTiming(p: Probe): {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  failureThreshold: number;
  successThreshold: number;
} {
  return {
    initialDelayMs: (p.initialDelaySeconds ?? 0) * 1000,
    periodMs: (p.periodSeconds || 10) * 1000,
    timeoutMs: (p.timeoutSeconds || 1) * 1000,
    failureThreshold: p.failureThreshold || 3,
    successThreshold: p.successThreshold || 1,
  };
}

/** A probe's port: a number, or the name of one of the container's ports (the kubelet's findPortByName). */
export function probePort(
  port: number | string,
  ports: { name?: string; containerPort: number }[] = [],
): { port: number } | { error: string } {
  if (typeof port === 'number') return { port };
  if (/^\d+$/.test(port)) return { port: Number(port) };
  const p = ports.find((x) => x.name === port);
  return p ? { port: p.containerPort } : { error: `port "${port}" not found` };
}

/** What one probe of a container found: success, or failure with the kubelet's words for it. */
export type ProbeOutcome = { ok: true } | { ok: false; message: string };

/** The kubelet's words for an HTTP probe's answer (2xx and 3xx succeed) or for not reaching the server. */
export function httpOutcome(
  url: string,
  answer: { status: number } | { error: 'refused' | 'timeout' | 'reset' | string },
): ProbeOutcome {
  if ('status' in answer)
    return answer.status >= 200 && answer.status < 400
      ? { ok: true }
      : { ok: false, message: `HTTP probe failed with statuscode: ${answer.status}` };
  const hostPort = url.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  const why =
    answer.error === 'refused'
      ? `dial tcp ${hostPort}: connect: connection refused`
      : answer.error === 'timeout'
        ? 'context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
        : answer.error === 'reset'
          ? `read tcp ${hostPort}: read: connection reset by peer`
          : answer.error;
  return { ok: false, message: `Get "${url}": ${why}` };
}

/** The kubelet's words for a TCP probe that could not connect. */
export function tcpOutcome(
  hostPort: string,
  answer: 'connected' | 'refused' | 'timeout' | string,
): ProbeOutcome {
  if (answer === 'connected') return { ok: true };
  const why =
    answer === 'refused' ? 'connect: connection refused' : answer === 'timeout' ? 'i/o timeout' : answer;
  return { ok: false, message: `dial tcp ${hostPort}: ${why}` };
}

/** One probe worker's memory: the result it last set, and the run of equal outcomes behind it. */
export interface ProbeWorkerState {
  /** What the kubelet's results manager holds: readiness starts false, liveness true. */
  result: boolean;
  last?: boolean;
  run: number;
}

export const initialProbeState = (kind: 'liveness' | 'readiness'): ProbeWorkerState => ({
  result: kind === 'liveness',
  run: 0,
});

/**
 * One probe outcome through the kubelet's worker (prober/worker.go): a run of equal outcomes sets the result once it
 * reaches failureThreshold (failures) or successThreshold (successes); a liveness failure that sets the result
 * restarts the container, and the run starts again.
 */
export function probeStep(
  kind: 'liveness' | 'readiness',
  s: ProbeWorkerState,
  ok: boolean,
  t: { failureThreshold: number; successThreshold: number },
): { state: ProbeWorkerState; restart: boolean } {
  const run = s.last === ok ? s.run + 1 : 1;
  if ((!ok && run < t.failureThreshold) || (ok && run < t.successThreshold))
    return { state: { ...s, last: ok, run }, restart: false };
  const restart = kind === 'liveness' && !ok;
  return { state: { result: ok, last: ok, run: restart ? 0 : run }, restart };
}
