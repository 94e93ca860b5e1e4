import { readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import type { Pki } from './certs.js';

const b64 = (file: string): string => readFileSync(file).toString('base64');

/** Writes a self-contained kubeconfig (certificates embedded) for an admin of one local apiserver. */
export function writeAdminKubeconfig(path: string, cluster: string, server: string, pki: Pki): void {
  writeKubeconfig(path, cluster, server, pki, {
    'client-certificate-data': b64(pki.adminCert),
    'client-key-data': b64(pki.adminKey),
  });
}

/** Writes a kubeconfig that authenticates with a bearer token (a service account's). */
export function writeTokenKubeconfig(
  path: string,
  cluster: string,
  server: string,
  pki: Pki,
  token: string,
): void {
  writeKubeconfig(path, cluster, server, pki, { token });
}

function writeKubeconfig(
  path: string,
  cluster: string,
  server: string,
  pki: Pki,
  user: Record<string, string>,
): void {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: { server, 'certificate-authority-data': b64(pki.ca) } }],
    users: [{ name: `${cluster}-user`, user }],
    contexts: [{ name: cluster, context: { cluster, user: `${cluster}-user` } }],
    'current-context': cluster,
  };
  writeFileSync(path, stringify(doc), { mode: 0o600 });
}
