import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FedContext } from './context.js';
import { binary, fedDir } from './paths.js';
import { probe } from './probe.js';
import { freePort } from './procs.js';
import { pushPlatformImages } from './images.js';

export interface RegistryCredentials {
  /** host:port, served over TLS with the federation's CA. */
  url: string;
  username: string;
  password: string;
}

/** What `fed up` writes to .fed/registry.json: the first user, and a second one for tests of credential mix-ups. */
export interface RegistryInfo extends RegistryCredentials {
  caFile: string;
  /** A directory holding only ca.crt, for skopeo and buildah --cert-dir. */
  certDir: string;
  users: RegistryCredentials[];
}

export const registryInfoPath = (): string => join(fedDir, 'registry.json');

/**
 * A real OCI registry on loopback: CNCF distribution v3 (`registry`, built from its Go module by build-binaries.sh),
 * TLS, htpasswd (bcrypt) auth, deletes enabled. Built rather than Debian's docker-registry 2.8.2, whose Go 1.19 hashes
 * uploads without the CPU's SHA extensions: that hashing was most of a push's time (docs/benchmarks.md).
 */
export async function startRegistry(ctx: FedContext): Promise<void> {
  // Chosen just before it binds; the nodes start after it and forward pods to it (ADR 0011 step 3).
  const port = ctx.state.ports.registry ?? (await freePort('registry'));
  ctx.setPort('registry', port);
  const dir = join(fedDir, 'registry');
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  const users = ['alice', 'bob'].map((username) => ({
    url: `127.0.0.1:${port}`,
    username,
    password: randomBytes(18).toString('base64url'),
  }));
  const htpasswd = join(dir, 'htpasswd');
  for (const [i, u] of users.entries()) {
    // -i reads the password from stdin, so it never shows on a command line.
    execFileSync('htpasswd', [i === 0 ? '-iBc' : '-iB', htpasswd, u.username], {
      input: u.password,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
  }
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1
log: {level: info, fields: {service: registry}}
storage:
  filesystem: {rootdirectory: ${join(dir, 'data')}}
  delete: {enabled: true}
  maintenance: {uploadpurging: {enabled: false}}
http:
  addr: 127.0.0.1:${port}
  tls: {certificate: ${ctx.pki.servingCert}, key: ${ctx.pki.servingKey}}
auth:
  htpasswd: {realm: stateful-migration-fed, path: ${htpasswd}}
`,
  );
  await ctx.run(
    'registry',
    binary('registry'),
    ['serve', config],
    () => probe(`https://127.0.0.1:${port}/`, ctx.pki),
    {
      port,
    },
  );
  const certDir = join(dir, 'certs');
  mkdirSync(certDir, { recursive: true });
  copyFileSync(ctx.pki.ca, join(certDir, 'ca.crt'));
  const info: RegistryInfo = { ...users[0]!, caFile: ctx.pki.ca, certDir, users };
  writeFileSync(registryInfoPath(), JSON.stringify(info, null, 2), { mode: 0o600 });
  await ctx.step('platform-images', () => Promise.resolve(pushPlatformImages(info)));
}

/**
 * skopeo copy of a local image (an OCI layout, `oci:DIR[:NAME]`) to each of `dests` (repository:tag under the
 * registry), as the registry's first user through a 0600 auth file written in `dir` (never argv), trusting the
 * federation's CA. With `digestFile`, skopeo writes the pushed manifest's digest there.
 */
export function pushToRegistry(
  info: RegistryInfo,
  dir: string,
  src: string,
  dests: string[],
  digestFile?: string,
): void {
  const authfile = join(dir, 'auth.json');
  const auth = Buffer.from(`${info.username}:${info.password}`).toString('base64');
  writeFileSync(authfile, JSON.stringify({ auths: { [info.url]: { auth } } }), { mode: 0o600 });
  try {
    for (const dest of dests)
      execFileSync(
        'skopeo',
        [
          'copy',
          '--quiet',
          `--dest-authfile=${authfile}`,
          `--dest-cert-dir=${info.certDir}`,
          ...(digestFile ? [`--digestfile=${digestFile}`] : []),
          src,
          `docker://${info.url}/${dest}`,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
  } finally {
    rmSync(authfile, { force: true });
  }
}
