import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostPathOnNode } from '../node/runtime/decisions.js';

/** Versions of the Go-built binaries; e2e/scripts/build-binaries.sh builds the same ones. */
export const versions = {
  etcd: 'v3.6.6',
  kube: 'v1.35.4',
  karmada: 'v1.18.2',
  checkpointctl: 'v1.6.0',
  helm: 'v3.22.0',
  registry: 'v3.1.2',
} as const;

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const fedDir = process.env.FED_DIR ? resolve(process.env.FED_DIR) : join(repoRoot, '.fed');
export const logDir = join(fedDir, 'logs');
export const stateFile = join(fedDir, 'state.json');
export const cacheDir =
  process.env.STATEFUL_MIGRATION_CACHE ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'stateful-migration');

/**
 * The version of the project's own checkpoint-store (go/checkpoint-store): a hash of its sources, as
 * build-binaries.sh computes it (go.mod, go.sum, then the .go files in byte order), so a change builds it again.
 */
export function checkpointStoreVersion(): string {
  const dir = join(repoRoot, 'go/checkpoint-store');
  const goFiles = readdirSync(dir)
    .filter((f) => f.endsWith('.go'))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', ...goFiles]) hash.update(readFileSync(join(dir, f)));
  return `src-${hash.digest('hex').slice(0, 16)}`;
}

const binVersion: Record<string, string> = {
  etcd: versions.etcd,
  'kube-apiserver': versions.kube,
  'kube-controller-manager': versions.kube,
  'kube-scheduler': versions.kube,
  kubectl: versions.kube,
  'karmada-controller-manager': versions.karmada,
  'karmada-scheduler': versions.karmada,
  'karmada-webhook': versions.karmada,
  'karmada-aggregated-apiserver': versions.karmada,
  checkpointctl: versions.checkpointctl,
  helm: versions.helm,
  registry: versions.registry,
  'checkpoint-store': checkpointStoreVersion(),
};

/** The cached binary, or the one FED_BIN_<NAME> substitutes (tests use it to play a broken component). */
export function binary(name: string): string {
  const v = binVersion[name];
  if (!v) throw new Error(`unknown binary ${name}`);
  const override = process.env[`FED_BIN_${name.toUpperCase().replace(/-/g, '_')}`];
  return override ?? join(cacheDir, 'bin', `${name}-${v}`, name);
}

export function missingBinaries(): string[] {
  return Object.keys(binVersion).filter((b) => !existsSync(binary(b)));
}

/** The Karmada module's source directory (its CRDs and webhook configuration). */
export function karmadaSourceDir(): string {
  const f = join(cacheDir, 'bin', `karmada-${versions.karmada}.dir`);
  const dir = existsSync(f) ? readFileSync(f, 'utf8').trim() : '';
  if (!dir || !existsSync(dir))
    throw new Error(`Karmada ${versions.karmada} source not found; run e2e/scripts/build-binaries.sh`);
  return dir;
}

export const kubeconfigPath = (cluster: string): string => join(fedDir, `${cluster}-config`);

/** The kubelet root of a stand-in node; its checkpoint archives are in <root>/checkpoints. */
export const nodeRootDir = (node: string): string => join(fedDir, 'nodes', node, 'kubelet');

/**
 * Where a path on a stand-in node is on this machine: what its kubelet answers (a checkpoint at
 * /var/lib/kubelet/checkpoints/<file>, as a real kubelet with the default root) is under the node's own root.
 */
export const onMachine = (node: string, nodePath: string): string =>
  hostPathOnNode(nodePath, join(fedDir, 'nodes', node), nodeRootDir(node));

/** A stand-in node's container runtime state (runc's root, images, containers, logs). */
export const nodeRuntimeDir = (node: string): string => join(fedDir, 'nodes', node, 'runtime');

/** CRIU 4.1.1's wrapper, from e2e/scripts/criu.sh (the version there and here must match). */
export const criuPath = (): string => join(cacheDir, 'criu-4.1.1', 'criu');

/**
 * A stand-in node's containers-storage, at the node's own paths (its storage.conf's graphroot and runroot, under
 * its root): where the chart's agent pod writes through its hostPath /var/lib/containers, so the local agent
 * processes, the chart's pods and the tests' buildah all see one store per node.
 */
export const nodeStorage = (node: string): { root: string; runroot: string } => ({
  root: join(fedDir, 'nodes', node, 'var/lib/containers/storage'),
  runroot: join(fedDir, 'nodes', node, 'run/containers/storage'),
});
