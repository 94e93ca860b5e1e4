import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CheckpointBackup } from '@stateful-migration/api';
import { readArchiveInfo, writeArchive } from '@stateful-migration/archive';
import { kubectl } from '../fed/kubectl.js';
import { fedDir, nodeRootDir, nodeStorage } from '../fed/paths.js';
import type { RegistryInfo } from '../fed/registry.js';
import { eventually } from './support.js';

export const registryInfo = (): RegistryInfo =>
  JSON.parse(readFileSync(join(fedDir, 'registry.json'), 'utf8')) as RegistryInfo;

/** A Deployment with one pod pinned to a node (each container the counter image); resolves to the pod's name once it runs. */
export async function runPod(
  cluster: string,
  ns: string,
  name: string,
  node: string,
  containers = ['app', 'side'],
  annotations: Record<string, string> = {},
  env: Record<string, string> = {},
): Promise<string> {
  const envYaml = JSON.stringify(Object.entries(env).map(([name, value]) => ({ name, value })));
  await kubectl(
    cluster,
    ['apply', '-f', '-'],
    `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${ns}}
spec:
  replicas: 1
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}, annotations: ${JSON.stringify(annotations)}}
    spec:
      nodeSelector: {kubernetes.io/hostname: ${node}}
      containers: [${containers.map((c) => `{name: ${c}, image: "registry.local/${c}:1", env: ${envYaml}}`).join(', ')}]
`,
  );
  return runningPod(cluster, ns, name, 60_000);
}

/** The name of a Running pod labelled app=<app>, once there is one. */
export function runningPod(cluster: string, ns: string, app: string, timeoutMs = 90_000): Promise<string> {
  return eventually(
    async () => {
      const out = await kubectl(cluster, [
        'get',
        'pods',
        '-n',
        ns,
        '-l',
        `app=${app}`,
        '-o',
        'jsonpath={range .items[*]}{.metadata.name} {.status.phase}{"\\n"}{end}',
      ]);
      return out
        .split('\n')
        .find((l) => l.endsWith(' Running'))
        ?.split(' ')[0];
    },
    timeoutMs,
    `a running ${app} pod in ${cluster}`,
  );
}

export async function getBackup(cluster: string, ns: string, name: string): Promise<CheckpointBackup> {
  return JSON.parse(await kubectl(cluster, ['get', 'cpb', name, '-n', ns, '-o', 'json'])) as CheckpointBackup;
}

/** Waits until the object's phase is one of `phases`. */
export function waitPhase(
  cluster: string,
  ns: string,
  name: string,
  phases: string[],
  timeoutMs = 60_000,
): Promise<CheckpointBackup> {
  return eventually(
    async () => {
      const b = await getBackup(cluster, ns, name);
      return b.status?.phase && phases.includes(b.status.phase) ? b : undefined;
    },
    timeoutMs,
    `${ns}/${name} to reach ${phases.join('|')}`,
  );
}

export function backupYaml(ns: string, name: string, pod: string, extra = ''): string {
  return `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: ${name}, namespace: ${ns}}
spec:
  schedule: "immediately"
  podRef: {name: ${pod}}
  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: ${name}}
${extra}`;
}

/** Applies a CheckpointBackup for pod on member1, pushing to `registry` with the secret `secret` when given. */
export async function applyBackup(
  ns: string,
  name: string,
  pod: string,
  push?: { url: string; repository: string; secret: string },
): Promise<void> {
  const extra = push
    ? `  registry: {url: "${push.url}", repository: ${push.repository}, secretRef: {name: ${push.secret}}}\n`
    : '';
  await kubectl('member1', ['apply', '-f', '-'], backupYaml(ns, name, pod, extra));
}

/** buildah against one stand-in node's containers-storage. */
export function nodeBuildah(node: string, args: string[]): string {
  const { root, runroot } = nodeStorage(node);
  return execFileSync('buildah', ['--root', root, '--runroot', runroot, '--storage-driver', 'vfs', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** A node's checkpoint directory on this machine: its kubelet answers it as /var/lib/kubelet/checkpoints (onMachine). */
export const checkpointDir = (node: string): string => join(nodeRootDir(node), 'checkpoints');

/**
 * Writes a containers auth file (owner-only) giving `user` for `registry`; answers its path. Written beside it and
 * renamed into place: cases running at the same time write the same file, and a skopeo reading it must never see it
 * half-written (truncated by writeFileSync, not yet filled).
 */
function authFile(path: string, registry: string, user: { username: string; password: string }): string {
  const staged = `${path}.${process.pid}`;
  writeFileSync(
    staged,
    JSON.stringify({
      auths: { [registry]: { auth: Buffer.from(`${user.username}:${user.password}`).toString('base64') } },
    }),
    { mode: 0o600 },
  );
  renameSync(staged, path);
  return path;
}

/** skopeo with credentials from an auth file (never on the command line). */
export function skopeo(args: string[], user = registryInfo().users[0]!): string {
  const info = registryInfo();
  const auth = authFile(join(fedDir, `skopeo-auth-${user.username}.json`), info.url, user);
  return execFileSync(
    'skopeo',
    [args[0]!, '--authfile', auth, '--cert-dir', info.certDir, ...args.slice(1)],
    { encoding: 'utf8' },
  );
}

/**
 * skopeo copy with the registry's CA for the source and alice's credentials in an auth file written in `dir` (never on
 * the command line); `destCertDir` gives the destination the registry's CA too. It answers with skopeo's exit status
 * and stderr rather than throwing, so a test can assert a refusal.
 */
export function skopeoCopy(
  dir: string,
  args: string[],
  o: { destCertDir?: boolean } = {},
): { status: number | null; stderr: string } {
  const info = registryInfo();
  const user = info.users[0]!;
  const auth = authFile(join(dir, 'auth.json'), info.url, user);
  const r = spawnSync(
    'skopeo',
    [
      'copy',
      '-q',
      '--authfile',
      auth,
      '--src-cert-dir',
      info.certDir,
      ...(o.destCertDir ? ['--dest-cert-dir', info.certDir] : []),
      ...args,
    ],
    { encoding: 'utf8' },
  );
  return { status: r.status, stderr: r.stderr };
}

/** A registry secret's manifest with a registry user (applied from stdin: never on a command line). */
export function registrySecretYaml(ns: string, name: string, username: string, password: string): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return `apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: ${ns}}
data: {username: ${b64(username)}, password: ${b64(password)}}
`;
}

/** Whether an object exists in a cluster's namespace. */
export function exists(cluster: string, ns: string, args: string[]): Promise<boolean> {
  return kubectl(cluster, ['get', ...args, '-n', ns, '-o', 'name']).then(
    () => true,
    () => false,
  );
}

/**
 * A registry secret in ns with one of the registry's users, and the Role and RoleBinding that let the agents read
 * that one secret (as the hub makes them: never every secret of the namespace).
 */
export async function registrySecret(
  ns: string,
  name: string,
  user: { username: string; password: string },
  password = user.password,
): Promise<void> {
  await kubectl(
    'member1',
    ['apply', '-f', '-'],
    `${registrySecretYaml(ns, name, user.username, password)}---
${secretReaderYaml(ns, name)}`,
  );
}

/** The Role that may get one secret, bound to the agents' ServiceAccount. */
export function secretReaderYaml(ns: string, secret: string): string {
  const name = `checkpoint-backup-registry-secret-${secret}`;
  return `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: ${name}, namespace: ${ns}}
rules: [{apiGroups: [''], resources: [secrets], verbs: [get], resourceNames: [${secret}]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ${name}, namespace: ${ns}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ${name}}
subjects: [{kind: ServiceAccount, name: checkpoint-backup-sa, namespace: stateful-migration}]
`;
}

/** An archive as another tool would leave it in a node's checkpoint directory: any file name, an mtime in the past. */
export async function foreignArchive(
  node: string,
  file: string,
  id: { ns: string; pod: string; container: string },
  at: Date,
): Promise<string> {
  const path = join(checkpointDir(node), file);
  // Written beside the directory and renamed into it, its time already set: the agent's retention sweeps the
  // directory every few seconds and may take an archive (any name, read by its spec.dump) the moment it appears.
  const staged = join(dirname(checkpointDir(node)), `.staged-${file}`);
  await writeArchive(staged, {
    namespace: id.ns,
    podName: id.pod,
    containerName: id.container,
    rootfsImageName: 'registry.local/app:1',
    memoryBytes: 4096,
    now: at,
  });
  utimesSync(staged, at, at);
  renameSync(staged, path);
  return path;
}

/** File names of a node's archives of a namespace (and pod), newest first, by reading each file's spec.dump. */
export async function archivesOf(node: string, ns: string, pod?: string): Promise<string[]> {
  const dir = checkpointDir(node);
  const out: { file: string; time: number }[] = [];
  for (const file of readdirSync(dir)) {
    const info = await readArchiveInfo(join(dir, file)).catch(() => undefined);
    if (info?.namespace === ns && (!pod || info.podName === pod))
      out.push({ file, time: statSync(join(dir, file)).mtimeMs });
  }
  return out.sort((a, b) => b.time - a.time).map((x) => x.file);
}

/**
 * A ConfigMap of public keys (spec.encryption.publicKeysRef) and, unless `reader` is false, the Role and RoleBinding
 * that let the agents get it, as the hub makes them where it carries the ConfigMap.
 */
export function publicKeysYaml(
  ns: string,
  name: string,
  data: Record<string, string>,
  reader = true,
): string {
  const role = `checkpoint-backup-public-keys-${name}`;
  return `apiVersion: v1
kind: ConfigMap
metadata: {name: ${name}, namespace: ${ns}}
data: ${JSON.stringify(data)}
${
  reader
    ? `---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: ${role}, namespace: ${ns}}
rules: [{apiGroups: [''], resources: [configmaps], verbs: [get], resourceNames: [${name}]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ${role}, namespace: ${ns}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ${role}}
subjects: [{kind: ServiceAccount, name: checkpoint-backup-sa, namespace: stateful-migration}]
`
    : ''
}`;
}
