import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fedDir } from './paths.js';

/**
 * What a node of a real cluster has on disk and the chart's agent DaemonSet mounts from it (hostPath, type
 * Directory or File, which fail the pod's mount when absent): /etc/containers (containers-common's policy.json,
 * registries.conf and storage.conf, as buildah in the agent reads them) and /etc/kubernetes/pki/ca.crt (the CA of the
 * kubelets' serving certificates, which the federation's CA signs). Written under the node's stand-in root
 * (`.fed/nodes/<node>/`, where hostPaths resolve), never over a file a test or the platform put there.
 */
export function installNodeFiles(node: string, clusterCa: string): void {
  const root = join(fedDir, 'nodes', node);
  const put = (path: string, text: string) => {
    const p = join(root, path);
    mkdirSync(join(p, '..'), { recursive: true, mode: 0o755 });
    if (!existsSync(p)) writeFileSync(p, text, { mode: 0o644 });
  };
  put(
    'etc/containers/policy.json',
    `${JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }], transports: { 'docker-daemon': { '': [{ type: 'insecureAcceptAnything' }] } } }, null, 2)}\n`,
  );
  put('etc/containers/registries.conf', 'unqualified-search-registries = ["docker.io"]\n');
  put(
    'etc/containers/storage.conf',
    '[storage]\ndriver = "vfs"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n',
  );
  mkdirSync(join(root, 'etc/kubernetes/pki'), { recursive: true, mode: 0o755 });
  copyFileSync(clusterCa, join(root, 'etc/kubernetes/pki/ca.crt'));
}
