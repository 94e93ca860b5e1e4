import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBusyboxRootfs } from '../node/runtime/busybox.js';
import type { NodeRegistries } from '../node/runtime/images.js';
import { fedDir, repoRoot } from './paths.js';
import { pushToRegistry, type RegistryInfo } from './registry.js';
import { AGENT_REPOSITORY } from './agent-image.js';

/**
 * The names the examples and tests give their workloads (registry.local/NAME:1). Each is the counter image:
 * busybox plus e2e/images/counter.c, counting in memory. registry.local is a mirror of the federation registry's
 * library/ namespace on every node, as registries.conf would map it.
 */
export const PLATFORM_IMAGES = ['app', 'side', 'sidecar', 'web', 'db', 'counter'] as const;
export const PLATFORM_REGISTRY = 'registry.local';

/** The node's registries.conf and kubelet config.json, as JSON: what every node stand-in reads at each pull. */
export const nodeRegistriesPath = (): string => join(fedDir, 'nodes', 'registries.json');

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Builds the counter image as an OCI layout (one uncompressed layer) and pushes it under each platform name. */
export function pushPlatformImages(info: RegistryInfo): void {
  const dir = join(fedDir, 'images');
  rmSync(dir, { recursive: true, force: true });
  const rootfs = ensureBusyboxRootfs(join(dir, 'rootfs'));
  execFileSync('gcc', [
    '-static',
    '-O2',
    '-o',
    join(rootfs, 'bin', 'counter'),
    join(repoRoot, 'e2e/images/counter.c'),
  ]);
  const layout = join(dir, 'oci');
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const layerFile = join(dir, 'layer.tar');
  // Sorted, with fixed owners and times: the same sources give the same layer digest.
  execFileSync('tar', [
    '-C',
    rootfs,
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    '-cf',
    layerFile,
    '.',
  ]);
  const layer = readFileSync(layerFile);
  const blob = (b: Buffer): { digest: string; size: number } => {
    const digest = sha256(b);
    writeFileSync(join(blobs, digest.slice(7)), b);
    return { digest, size: b.length };
  };
  const l = blob(layer);
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: {
          Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
          Cmd: ['/bin/counter'],
        },
        rootfs: { type: 'layers', diff_ids: [l.digest] },
      }),
    ),
  );
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l }],
      }),
    ),
  );
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest }],
    }),
  );
  pushToRegistry(
    info,
    dir,
    `oci:${layout}`,
    PLATFORM_IMAGES.map((name) => `library/${name}:1`),
  );
  const regs: NodeRegistries = {
    mirrors: { [PLATFORM_REGISTRY]: `${info.url}/library` },
    certDir: info.certDir,
    // Node-wide credentials for the platform's images only: checkpoint images need the pod's pull secret. The
    // product's own image (agent-image.ts) is one of them: a node pulls it as a cluster's nodes pull their add-ons'
    // images, with the node's credentials (kubelet config.json), for that one repository.
    auths: [
      { prefix: `${info.url}/library`, username: info.username, password: info.password },
      { prefix: `${info.url}/${AGENT_REPOSITORY}`, username: info.username, password: info.password },
    ],
  };
  mkdirSync(join(fedDir, 'nodes'), { recursive: true });
  writeFileSync(nodeRegistriesPath(), JSON.stringify(regs, null, 2), { mode: 0o600 });
  rmSync(layerFile, { force: true });
}
