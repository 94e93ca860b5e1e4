import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusters, kubernetesServiceIP } from './control-plane.js';

/** SANs of the one serving certificate every local server uses. */
const servingNames = [
  'localhost',
  'karmada-aggregated-apiserver.karmada-system.svc',
  'karmada-webhook.karmada-system.svc',
  'kubernetes.default.svc',
];

/**
 * The `kubernetes` Service's ClusterIP of each apiserver: a pod's in-cluster config dials it and verifies the name
 * against kube-root-ca.crt (ADR 0011 step 3; the pod's forwarder carries the connection to the apiserver).
 */
const serviceIPs = clusters.map(kubernetesServiceIP);

export interface Pki {
  dir: string;
  ca: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  frontProxyCert: string;
  frontProxyKey: string;
  saKey: string;
  saPub: string;
  /** The client certificate the members' apiservers present to the hub's admission webhook (AdmissionConfiguration). */
  webhookClientCert: string;
  webhookClientKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function signed(dir: string, name: string, subject: string, ext: string, newkey = ['rsa:2048']): void {
  openssl(
    [
      'req',
      '-new',
      '-newkey',
      ...newkey,
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      subject,
    ],
    dir,
  );
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '3650',
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
}

/** One CA signs everything: serving certificates, the admin and front-proxy clients. Made once per .fed/. */
export function ensurePki(dir: string): Pki {
  const pki: Pki = {
    dir,
    ca: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    servingCert: join(dir, 'serving.crt'),
    servingKey: join(dir, 'serving.key'),
    adminCert: join(dir, 'admin.crt'),
    adminKey: join(dir, 'admin.key'),
    frontProxyCert: join(dir, 'front-proxy-client.crt'),
    frontProxyKey: join(dir, 'front-proxy-client.key'),
    saKey: join(dir, 'sa.key'),
    saPub: join(dir, 'sa.pub'),
    webhookClientCert: join(dir, 'webhook-client.crt'),
    webhookClientKey: join(dir, 'webhook-client.key'),
  };
  if (existsSync(pki.saPub)) {
    // A .fed/ made before the webhook's callers were authenticated: only that certificate is added.
    if (!existsSync(pki.webhookClientCert)) webhookClient(dir);
    return pki;
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '3650',
      '-subj',
      '/CN=stateful-migration-fed-ca',
    ],
    dir,
  );
  const san = [
    'IP:127.0.0.1',
    ...serviceIPs.map((ip) => `IP:${ip}`),
    ...servingNames.map((n) => `DNS:${n}`),
  ].join(',');
  signed(dir, 'serving', '/CN=localhost', `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  signed(dir, 'admin', '/O=system:masters/CN=fed-admin', 'extendedKeyUsage=clientAuth\n');
  signed(dir, 'front-proxy-client', '/CN=front-proxy-client', 'extendedKeyUsage=clientAuth\n');
  webhookClient(dir);
  openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
  openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  return pki;
}

/** The members' apiservers' client certificate for the hub's webhook (the hub requires one its client CA signed). */
function webhookClient(dir: string): void {
  signed(dir, 'webhook-client', '/CN=stateful-migration-webhook-client', 'extendedKeyUsage=clientAuth\n');
}

/**
 * A node's kubelet serving certificate, naming the node's own address (ADR 0011 step 2) and its name, as a real
 * kubelet's does (CN system:node:<name>). The agent and the apiserver verify it against the federation's CA.
 */
export function kubeletServingCert(pki: Pki, node: string, address: string): { cert: string; key: string } {
  const name = `kubelet-${node}`;
  signed(
    pki.dir,
    name,
    `/O=system:nodes/CN=system:node:${node}`,
    `subjectAltName=IP:${address},DNS:${node}\nextendedKeyUsage=serverAuth\n`,
    // P-256: one per node at every `fed up`, and an RSA key takes seconds to make on a loaded machine.
    ['ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'],
  );
  return { cert: join(pki.dir, `${name}.crt`), key: join(pki.dir, `${name}.key`) };
}
