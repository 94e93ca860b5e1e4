/** Calls to a node stand-in's kubelet, as the agent and the apiserver make them (the kubelet cases). */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { nodeAddressOf } from '../fed/members.js';
import { fedDir } from '../fed/paths.js';
import { readState } from '../fed/procs.js';
import { kubectl } from '../fed/kubectl.js';

/** Each node's kubelet port, on the node's own loopback address. */
const port = (node: string): number => readState()!.ports[`kubelet-${node}`]!;
/** Each node's own loopback address (ADR 0011 step 2): its InternalIP, where its kubelet listens. */
export const kubeletAddress = (node: string): string => nodeAddressOf(readState()!, node);

/** A request to a node's kubelet over TLS (the federation's CA); resolves with its status code and body. */
export function kubeletCall(
  node: string,
  path: string,
  token?: string,
  method = 'POST',
  /** With the federation's admin client certificate, as the apiserver calls the kubelet (system:masters). */
  clientCert = false,
): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: kubeletAddress(node),
        port: port(node),
        path,
        method,
        ca: readFileSync(join(fedDir, 'pki/ca.crt')),
        ...(clientCert
          ? {
              cert: readFileSync(join(fedDir, 'pki/admin.crt')),
              key: readFileSync(join(fedDir, 'pki/admin.key')),
            }
          : {}),
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A token of a ServiceAccount of member1. */
export const saToken = async (ns: string, sa: string): Promise<string> =>
  (await kubectl('member1', ['create', 'token', sa, '-n', ns])).trim();

/** The ServiceAccount `checkpointer` of ns, allowed to create nodes/checkpoint (a ClusterRole named `<ns>-checkpoint`). */
export const checkpointerYaml = (ns: string): string => `apiVersion: v1
kind: ServiceAccount
metadata: {name: checkpointer, namespace: ${ns}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: ${ns}-checkpoint}
rules: [{apiGroups: [''], resources: [nodes/checkpoint], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ${ns}-checkpoint}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ${ns}-checkpoint}
subjects: [{kind: ServiceAccount, name: checkpointer, namespace: ${ns}}]
`;
