import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { FedContext } from './context.js';
import { members } from './control-plane.js';
import { apply } from './kubectl.js';
import { memberNodes } from './members.js';
import { fedDir, nodeRootDir, repoRoot } from './paths.js';
import { probe } from './probe.js';
import { freePort } from './procs.js';
import { registryInfoPath, type RegistryInfo } from './registry.js';

// admission-policy.yaml: a CheckpointBackup may name no other namespace (issue 11), refused by the member apiserver.
const deployFiles = ['crds/checkpointbackups.yaml', 'admission-policy.yaml', 'namespace.yaml', 'rbac.yaml'];

/** deploy/'s CRD, admission policy, namespace and RBAC on each member, as a cluster admin would apply them. */
async function installAgentApis(ctx: FedContext, member: string): Promise<string> {
  await apply(
    member,
    deployFiles.map((f) => readFileSync(join(repoRoot, 'deploy', f), 'utf8')).join('\n---\n'),
  );
  const tr = await ctx
    .client(member)
    .request<{ status: { token: string } }>(
      'POST',
      '/api/v1/namespaces/stateful-migration/serviceaccounts/checkpoint-backup-sa/token',
      {
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds: 7 * 24 * 3600 },
        },
      },
    );
  return tr.status.token;
}

/**
 * One agent per Node, as a local process against its member apiserver, with the token of deploy/'s
 * checkpoint-backup-sa, so its RBAC is the real one. Each node has its own containers-storage (vfs) under .fed/.
 */
export async function startAgents(ctx: FedContext): Promise<void> {
  // The federation's registry is the platform's: the default secret may go there, and nowhere else (issue 11).
  const platformRegistry = (JSON.parse(readFileSync(registryInfoPath(), 'utf8')) as RegistryInfo).url;
  for (const member of members) {
    const token = await installAgentApis(ctx, member);
    const server = `https://127.0.0.1:${ctx.port(`${member}-apiserver`)}`;
    for (const node of memberNodes[member] ?? []) {
      const dir = join(fedDir, 'agents', node);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const tokenFile = join(dir, 'token');
      writeFileSync(tokenFile, token, { mode: 0o600 });
      const kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(
        kubeconfig,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: member, cluster: { server, 'certificate-authority': ctx.pki.ca } }],
          users: [{ name: 'checkpoint-backup-sa', user: { 'token-file': tokenFile } }],
          contexts: [{ name: member, context: { cluster: member, user: 'checkpoint-backup-sa' } }],
          'current-context': member,
        }),
        { mode: 0o600 },
      );
      const health = await freePort(`agent-${node}`);
      ctx.setPort(`agent-${node}`, health);
      const root = nodeRootDir(node);
      await ctx.run(
        `agent-${node}`,
        process.execPath,
        [
          join(repoRoot, 'packages/cli/dist/main.js'),
          'agent',
          `--kubeconfig=${kubeconfig}`,
          `--node-name=${node}`,
          '--node-ip=127.0.0.1',
          `--kubelet-port=${ctx.port(`kubelet-${node}`)}`,
          `--kubelet-ca=${ctx.pki.ca}`,
          `--token-file=${tokenFile}`,
          `--storage-root=${join(root, '..', 'containers', 'storage')}`,
          `--storage-runroot=${join(root, '..', 'containers', 'run')}`,
          '--storage-driver=vfs',
          `--checkpoint-dir=${join(root, 'checkpoints')}`,
          `--registry-ca=${ctx.pki.ca}`,
          `--health-port=${health}`,
          // The node's stand-in root: its CRI-O configuration (etc/crio/crio.conf.d/10-checkpoint-restore.conf,
          // written by the node stand-in) is what the agent publishes as the Node's checkpoint-restore label.
          `--host-root=${join(fedDir, 'nodes', node)}`,
          // Short, so e2e sees the periodic retention sweep (default 300 s).
          '--retention-interval=20',
          `--default-secret-registries=${platformRegistry}`,
        ],
        () => probe(`http://127.0.0.1:${health}/readyz`),
        { port: health },
      );
    }
  }
}
