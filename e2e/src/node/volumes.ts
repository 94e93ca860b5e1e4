import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { getOrUndefined, type RestClient } from '@stateful-migration/kube';
import {
  fieldValue,
  hostPathCheck,
  hostPathOnNode,
  keyedData,
  keyedFiles,
  resourceValue,
  type DownwardPod,
  type HostPathKind,
  type KeyedData,
  type KeyToPath,
  type VolumeFile,
} from './runtime/decisions.js';

interface ObjectSource {
  name: string;
  items?: KeyToPath[];
  optional?: boolean;
}
interface DownwardItem {
  path: string;
  mode?: number;
  fieldRef?: { fieldPath: string };
  resourceFieldRef?: { containerName?: string; resource: string; divisor?: string };
}

/** A pod volume, as far as the kubelet's volume plugins here read it. */
export interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  emptyDir?: { medium?: string };
  secret?: { secretName: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  configMap?: ObjectSource & { defaultMode?: number };
  downwardAPI?: { items?: DownwardItem[]; defaultMode?: number };
  projected?: {
    defaultMode?: number;
    sources?: {
      serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string };
      configMap?: ObjectSource;
      secret?: ObjectSource;
      downwardAPI?: { items?: DownwardItem[] };
    }[];
  };
}

export interface VolumePod extends DownwardPod {
  metadata?: DownwardPod['metadata'];
  spec?: DownwardPod['spec'] & {
    volumes?: Volume[];
    containers?: {
      name: string;
      resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
    }[];
    securityContext?: { fsGroup?: number };
  };
}

/** A volume whose set-up failed: the kubelet's FailedMount, for that volume. */
export class MountFailure extends Error {
  constructor(
    readonly volume: string,
    reason: string,
  ) {
    super(`MountVolume.SetUp failed for volume "${volume}" : ${reason}`);
  }
}

const ALLOCATABLE = { cpu: '2', memory: '4Gi', 'ephemeral-storage': '10Gi' };

/**
 * The kubelet's volume manager for one node: each volume of a pod as a directory (or file) on the node, which the
 * runtime bind-mounts where containers ask. hostPath is the node's own path (inside the stand-in node's root,
 * hostPathOnNode), type-checked; emptyDir a directory of the pod; secret, configMap, downwardAPI and projected
 * volumes are written as the kubelet's atomic writer writes them (a timestamped directory behind `..data`, one
 * symbolic link per top-level name) and rewritten when their content changes, service-account tokens from the
 * TokenRequest API, bound to the pod, renewed at 80% of their lifetime. Contents are never logged.
 */
export class PodVolumes {
  /** Tokens by pod UID, volume and path: the token and when to renew it. */
  readonly #tokens = new Map<string, { token: string; renewAt: number }>();

  constructor(
    private readonly client: RestClient,
    private readonly nodeRoot: string,
    private readonly kubeletRoot: string,
  ) {}

  #podDir = (uid: string): string => join(this.kubeletRoot, 'pods', uid);

  /** Sets every volume up (again); the node path of each, by name. Throws MountFailure for the first that fails. */
  async setUp(pod: VolumePod): Promise<Map<string, string>> {
    const paths = new Map<string, string>();
    const uid = pod.metadata!.uid!;
    const fsGroup = pod.spec?.securityContext?.fsGroup;
    for (const v of pod.spec?.volumes ?? []) {
      const plugin = (p: string) => join(this.#podDir(uid), 'volumes', `kubernetes.io~${p}`, v.name);
      const fail = (reason: string) => new MountFailure(v.name, reason);
      if (v.hostPath) {
        const path = hostPathOnNode(v.hostPath.path, this.nodeRoot, this.kubeletRoot);
        const r = hostPathCheck(v.hostPath.type, v.hostPath.path, kindAt(path));
        if ('error' in r) throw fail(r.error);
        if (r.create === 'directory') mkdirSync(path, { recursive: true, mode: 0o755 });
        if (r.create === 'file') {
          mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
          writeFileSync(path, '', { mode: 0o644, flag: 'a' });
        }
        paths.set(v.name, path);
      } else if (v.emptyDir || !(v.secret || v.configMap || v.downwardAPI || v.projected)) {
        // emptyDir (and, so a pod still runs, any other volume type this stand-in does not know: an empty directory).
        const dir = plugin('empty-dir');
        if (!existsSync(dir)) {
          mkdirSync(dir, { recursive: true });
          chmodSync(dir, 0o777);
          if (fsGroup !== undefined) setOwnership(dir, fsGroup);
        }
        paths.set(v.name, dir);
      } else {
        const [kind, files] = await this.#files(pod, v, fail);
        const dir = plugin(kind);
        // With fsGroup, the kubelet's SetVolumeOwnership: group fsGroup and group-readable (these volumes are read-only).
        writeAtomically(
          dir,
          fsGroup === undefined ? files : files.map((f) => ({ ...f, mode: f.mode | 0o440 })),
          fsGroup,
        );
        paths.set(v.name, dir);
      }
    }
    return paths;
  }

  async #files(
    pod: VolumePod,
    v: Volume,
    fail: (reason: string) => MountFailure,
  ): Promise<[string, VolumeFile[]]> {
    const ns = pod.metadata?.namespace ?? '';
    const keyed = async (kind: 'secret' | 'configMap', src: ObjectSource, defaultMode?: number) => {
      const path = `/api/v1/namespaces/${ns}/${kind === 'secret' ? 'secrets' : 'configmaps'}/${src.name}`;
      const data: KeyedData = keyedData(kind, await getOrUndefined(this.client, path));
      const r = keyedFiles(kind, src.name, data, {
        ...src,
        ...(defaultMode !== undefined ? { defaultMode } : {}),
      });
      if ('error' in r) throw fail(r.error);
      return r.files;
    };
    const downward = (items: DownwardItem[], defaultMode?: number): VolumeFile[] =>
      items.map((it) => {
        const r = it.fieldRef
          ? fieldValue(pod, it.fieldRef.fieldPath, 'volume')
          : it.resourceFieldRef
            ? resourceValue(
                pod.spec?.containers?.find((c) => c.name === it.resourceFieldRef!.containerName)?.resources,
                it.resourceFieldRef,
                ALLOCATABLE,
              )
            : { error: `downwardAPI item ${it.path} has neither fieldRef nor resourceFieldRef` };
        if ('error' in r) throw fail(r.error);
        return { path: it.path, content: Buffer.from(r.value), mode: it.mode ?? defaultMode ?? 0o644 };
      });
    if (v.secret)
      return [
        'secret',
        await keyed('secret', { ...v.secret, name: v.secret.secretName }, v.secret.defaultMode),
      ];
    if (v.configMap) return ['configmap', await keyed('configMap', v.configMap, v.configMap.defaultMode)];
    if (v.downwardAPI)
      return ['downward-api', downward(v.downwardAPI.items ?? [], v.downwardAPI.defaultMode)];
    const files: VolumeFile[] = [];
    const mode = v.projected?.defaultMode;
    for (const s of v.projected?.sources ?? []) {
      if (s.secret) files.push(...(await keyed('secret', s.secret, mode)));
      else if (s.configMap) files.push(...(await keyed('configMap', s.configMap, mode)));
      else if (s.downwardAPI) files.push(...downward(s.downwardAPI.items ?? [], mode));
      else if (s.serviceAccountToken) {
        const token = await this.#token(pod, v.name, s.serviceAccountToken).catch((err: unknown) => {
          throw fail(String((err as Error).message ?? err));
        });
        // The kubelet writes tokens 0600 unless the volume says otherwise (0644 for the default token volume).
        files.push({ path: s.serviceAccountToken.path, content: Buffer.from(token), mode: mode ?? 0o600 });
      }
    }
    return ['projected', files];
  }

  /** A token of the pod's service account from the TokenRequest API, bound to the pod; renewed at 80% of its life. */
  async #token(
    pod: VolumePod,
    volume: string,
    src: { audience?: string; expirationSeconds?: number; path: string },
  ): Promise<string> {
    const m = pod.metadata!;
    const key = `${m.uid}/${volume}/${src.path}`;
    const held = this.#tokens.get(key);
    if (held && Date.now() < held.renewAt) return held.token;
    const sa = pod.spec?.serviceAccountName || 'default';
    const seconds = src.expirationSeconds ?? 3600;
    const tr = await this.client.request<{ status: { token: string; expirationTimestamp: string } }>(
      'POST',
      `/api/v1/namespaces/${m.namespace}/serviceaccounts/${sa}/token`,
      {
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: {
            audiences: src.audience ? [src.audience] : [],
            expirationSeconds: seconds,
            boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: m.name, uid: m.uid },
          },
        },
      },
    );
    const life = Date.parse(tr.status.expirationTimestamp) - Date.now();
    this.#tokens.set(key, { token: tr.status.token, renewAt: Date.now() + life * 0.8 });
    return tr.status.token;
  }

  /** Removes a pod's volumes (never a hostPath: that is the node's). */
  remove(uid: string): void {
    for (const k of this.#tokens.keys()) if (k.startsWith(`${uid}/`)) this.#tokens.delete(k);
    rmSync(this.#podDir(uid), { recursive: true, force: true });
  }
}

function kindAt(path: string): HostPathKind {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 'missing';
  }
  if (st.isDirectory()) return 'directory';
  if (st.isFile()) return 'file';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  return 'file';
}

/**
 * The kubelet's AtomicWriter: the files in a new timestamped directory, `..data` switched to it by one rename, a
 * link per top-level name into `..data`, the old directory removed. Nothing is rewritten when nothing changed.
 */
function writeAtomically(dir: string, files: VolumeFile[], gid?: number): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const data = join(dir, '..data');
  if (existsSync(data) && sameFiles(data, files)) return;
  const stamp = `..${new Date().toISOString().replace(/[-:T]/g, '_').replace('Z', '')}${process.hrtime.bigint() % 1000n}`;
  const ts = join(dir, stamp);
  mkdirSync(ts, { mode: 0o755 });
  if (gid !== undefined) {
    chownSync(ts, 0, gid);
    chmodSync(ts, 0o2755);
  }
  for (const f of files) {
    const p = join(ts, f.path);
    mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
    writeFileSync(p, f.content);
    chmodSync(p, f.mode);
    if (gid !== undefined) chownSync(p, 0, gid);
  }
  const old = existsSync(data) ? readlinkSync(data) : undefined;
  rmSync(join(dir, '..data_tmp'), { force: true });
  symlinkSync(stamp, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), data);
  const top = new Set(files.map((f) => f.path.split('/')[0]!));
  for (const name of readdirSync(dir)) {
    if (name.startsWith('..')) continue;
    if (!top.has(name)) rmSync(join(dir, name), { force: true, recursive: true });
  }
  for (const name of top)
    if (!existsSync(join(dir, name))) symlinkSync(join('..data', name), join(dir, name));
  if (old && old !== stamp) rmSync(join(dir, old), { recursive: true, force: true });
}

function sameFiles(data: string, files: VolumeFile[]): boolean {
  const count = (d: string): number =>
    readdirSync(d).reduce((n, e) => (lstatSync(join(d, e)).isDirectory() ? n + count(join(d, e)) : n + 1), 0);
  if (count(data) !== files.length) return false;
  return files.every((f) => {
    const p = join(data, f.path);
    return existsSync(p) && (statSync(p).mode & 0o7777) === f.mode && readFileSync(p).equals(f.content);
  });
}

/** The kubelet's SetVolumeOwnership of a writable volume: group fsGroup, group read-write, setgid directories. */
function setOwnership(dir: string, gid: number): void {
  const walk = (p: string): void => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    chownSync(p, st.uid, gid);
    const mask = 0o660;
    chmodSync(p, (st.mode & 0o7777) | mask | (st.isDirectory() ? 0o2110 : 0));
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
  };
  walk(dir);
}
