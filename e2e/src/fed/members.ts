import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RestClient } from '@stateful-migration/kube';
import type { FedContext } from './context.js';
import { kubernetesServiceIP, members } from './control-plane.js';
import { apply, kubectl } from './kubectl.js';
import { binary, criuPath, kubeconfigPath, nodeRootDir, nodeRuntimeDir, repoRoot } from './paths.js';
import { nodeRegistriesPath } from './images.js';
import type { CheckpointRestoreSetting } from '../node/runtime/decisions.js';
import { kubeletServingCert } from './certs.js';
import { claimNodeAddresses } from './node-net.js';
import type { FedState } from './procs.js';
import { installNodeKeys } from './keys.js';
import { installNodeFiles } from './node-files.js';

/** Cluster labels, so PropagationPolicies can select members by labelSelector. */
export const memberLabels: Record<string, Record<string, string>> = {
  member1: { region: 'eu-west', 'stateful-migration.dcnlab.com/fed': 'true' },
  member2: { region: 'us-east', 'stateful-migration.dcnlab.com/fed': 'true' },
};

/** The Nodes of each member, each played by one node stand-in process. */
export const memberNodes: Record<string, string[]> = { member1: ['m1-a', 'm1-b'], member2: ['m2-a', 'm2-b'] };

/**
 * Each node's runtime setting (CRI-O's container_level_enabled); the rest allow restores. m2-b keeps CRI-O's default
 * since August 2026, checkpoint_only, as most real nodes now do: it checkpoints but refuses restores.
 */
export const nodeCheckpointRestore: Record<string, CheckpointRestoreSetting> = { 'm2-b': 'checkpoint_only' };

const yamlLabels = (labels: Record<string, string>): string =>
  Object.entries(labels)
    .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)
    .join('\n');

/** A token for a member's service account through the TokenRequest API, as karmadactl join does. */
async function requestToken(client: RestClient, namespace: string, sa: string): Promise<string> {
  const tr = await client.request<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 365 * 24 * 3600 },
      },
    },
  );
  return tr.status.token;
}

/**
 * Registers a member as a Push-mode Cluster the way `karmadactl join` does: on the member, a ServiceAccount with a
 * ClusterRole for Karmada's controllers and one for the cluster proxy's impersonation; on Karmada, Secrets holding
 * their tokens (TokenRequest) and the CA, and the Cluster object with its labels.
 */
export async function joinMember(ctx: FedContext, member: string): Promise<void> {
  await ctx.step(`join-${member}`, async () => {
    const sa = `karmada-${member}`;
    await apply(
      member,
      `apiVersion: v1
kind: Namespace
metadata: {name: karmada-cluster}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ${sa}, namespace: karmada-cluster}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: karmada-impersonator, namespace: karmada-cluster}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: 'system:karmada:${sa}'}
rules:
- {apiGroups: ['*'], resources: ['*'], verbs: ['*']}
- {nonResourceURLs: ['*'], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: 'system:karmada:${sa}'}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: 'system:karmada:${sa}'}
subjects: [{kind: ServiceAccount, name: ${sa}, namespace: karmada-cluster}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: 'karmada-impersonator'}
rules:
- {apiGroups: [''], resources: [users, groups, serviceaccounts], verbs: [impersonate]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: 'karmada-impersonator'}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: karmada-impersonator}
subjects: [{kind: ServiceAccount, name: karmada-impersonator, namespace: karmada-cluster}]
`,
    );
    const client = ctx.client(member);
    const token = await requestToken(client, 'karmada-cluster', sa);
    const impersonatorToken = await requestToken(client, 'karmada-cluster', 'karmada-impersonator');
    const ca = readFileSync(ctx.pki.ca).toString('base64');
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    await apply(
      'karmada',
      `apiVersion: v1
kind: Secret
metadata: {name: ${member}, namespace: karmada-cluster}
data: {token: ${b64(token)}, caBundle: ${ca}}
---
apiVersion: v1
kind: Secret
metadata: {name: ${member}-impersonator, namespace: karmada-cluster}
data: {token: ${b64(impersonatorToken)}}
---
apiVersion: cluster.karmada.io/v1alpha1
kind: Cluster
metadata:
  name: ${member}
  labels:
${yamlLabels(memberLabels[member] ?? {})}
spec:
  syncMode: Push
  apiEndpoint: https://127.0.0.1:${ctx.port(`${member}-apiserver`)}
  secretRef: {namespace: karmada-cluster, name: ${member}}
  impersonatorSecretRef: {namespace: karmada-cluster, name: ${member}-impersonator}
`,
    );
  });
}

export async function waitMembersReady(ctx: FedContext): Promise<void> {
  await ctx.step('clusters-ready', () =>
    kubectl('karmada', [
      'wait',
      '--for=condition=Ready',
      '--timeout=120s',
      ...members.map((m) => `cluster/${m}`),
    ]),
  );
}

/** Every kubelet listens on the port a real one does; each node has its own address (ADR 0011 step 2). */
export const KUBELET_PORT = 10250;

/** The node's address (its InternalIP, where its kubelet listens), as `fed up` recorded it. */
export function nodeAddressOf(state: FedState, node: string): string {
  const a = (state.extra?.nodeAddresses as Record<string, string> | undefined)?.[node];
  if (!a) throw new Error(`no address recorded for node ${node}`);
  return a;
}

/** One node stand-in process per Node; ready when its Node reads Ready. */
export async function startNodes(ctx: FedContext): Promise<void> {
  const all = members.flatMap((m) => memberNodes[m] ?? []);
  const addresses = claimNodeAddresses(all);
  ctx.state.extra = { ...ctx.state.extra, nodeAddresses: addresses };
  // The registry started before the nodes (parts.ts) and is bound already: its address is part of what every pod
  // is forwarded to, and a port chosen here and bound only after every node is Ready could be taken meanwhile.
  const registry = ctx.port('registry');
  let octet = 0;
  for (const member of members) {
    for (const node of memberNodes[member] ?? []) {
      octet++;
      const address = addresses[node]!;
      // Kept under the kubelet's name, as for every other component, for the helpers and tests that read ports.
      ctx.setPort(`kubelet-${node}`, KUBELET_PORT);
      const tls = kubeletServingCert(ctx.pki, node, address);
      // What a pod is told and reaches through its forwarder (ADR 0011 step 3): its node's kubelet (status.hostIP),
      // the member's apiserver at the `kubernetes` Service (in-cluster config), the registry and Karmada's apiserver
      // at the addresses their clients are configured with.
      const karmada = ctx.port('karmada-apiserver');
      const forward = [
        `${address}:${KUBELET_PORT}=${address}:${KUBELET_PORT}`,
        `${kubernetesServiceIP(member)}:443=127.0.0.1:${ctx.port(`${member}-apiserver`)}`,
        `127.0.0.1:${registry}=127.0.0.1:${registry}`,
        `127.0.0.1:${karmada}=127.0.0.1:${karmada}`,
      ];
      const client = ctx.client(member);
      // The platform's part: the node's private keys in its runtime's decryption keys directory (keys.ts).
      installNodeKeys(node);
      // ...and the files a node has that the chart's DaemonSet mounts.
      installNodeFiles(node, ctx.pki.ca);
      await ctx.run(
        `node-${node}`,
        process.execPath,
        [
          join(repoRoot, 'e2e/dist/node/main.js'),
          `--kubeconfig=${kubeconfigPath(member)}`,
          `--node=${node}`,
          `--address=${address}`,
          `--kubelet-port=${KUBELET_PORT}`,
          `--node-octet=${octet}`,
          `--root-dir=${nodeRootDir(node)}`,
          `--tls-cert=${tls.cert}`,
          `--tls-key=${tls.key}`,
          `--client-ca=${ctx.pki.ca}`,
          `--runtime-dir=${nodeRuntimeDir(node)}`,
          `--criu=${criuPath()}`,
          `--registries=${nodeRegistriesPath()}`,
          `--checkpoint-restore=${nodeCheckpointRestore[node] ?? 'checkpoint_restore'}`,
          `--checkpointctl=${binary('checkpointctl')}`,
          ...forward.map((f) => `--forward=${f}`),
        ],
        async () => {
          const n = await client.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
            `/api/v1/nodes/${node}`,
          );
          return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
        },
        // Its kubelet's address, so a failed start checks it first and names it ("port 127.x.y.z:10250 is taken").
        { port: KUBELET_PORT, host: address },
      );
    }
  }
}
