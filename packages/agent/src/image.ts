import { execFile } from 'node:child_process';
import type { ArchiveInfo } from '@stateful-migration/archive';

export const CHECKPOINTED_TIME_ANNOTATION = 'migration.dcnlab.com/checkpointed-time';

/** Manifest annotations of a checkpoint image: CRI-O's marker, and checkpointctl's org.criu.checkpoint.* keys. */
export function checkpointAnnotations(
  info: Pick<ArchiveInfo, 'containerName' | 'podName' | 'namespace' | 'rootfsImageName'> &
    Partial<Pick<ArchiveInfo, 'checkpointedTime'>>,
): Record<string, string> {
  return {
    // Links the image to its archive for retention: an archive of a pinned image is pinned too.
    ...(info.checkpointedTime ? { [CHECKPOINTED_TIME_ANNOTATION]: info.checkpointedTime } : {}),
    'io.kubernetes.cri-o.annotations.checkpoint.name': info.containerName,
    'org.criu.checkpoint.container.name': info.containerName,
    'org.criu.checkpoint.pod.name': info.podName,
    'org.criu.checkpoint.pod.namespace': info.namespace,
    'org.criu.checkpoint.rootfsImageName': info.rootfsImageName,
  };
}

/** The unique tag of a run: its start time to the millisecond, e.g. 20261127-063512-123. */
export function runTag(startedAt: Date): string {
  const iso = startedAt.toISOString();
  return `${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 19).replace(/:/g, '')}-${iso.slice(20, 23)}`;
}

/** localhost/checkpoint-<pod>-<container>:<tag>, or <registry>/<repository>/checkpoint-<pod>-<container>:<tag>. */
export function imageName(
  pod: string,
  container: string,
  tag: string,
  registry?: { url: string; repository: string },
): string {
  const repo = `checkpoint-${pod}-${container}`;
  return registry
    ? `${registry.url}/${registry.repository.replace(/^\/|\/$/g, '')}/${repo}:${tag}`
    : `localhost/${repo}:${tag}`;
}

/** Splits host/repository:tag. */
export function splitImageName(name: string): { host: string; repository: string; tag: string } {
  const slash = name.indexOf('/');
  const colon = name.lastIndexOf(':');
  return { host: name.slice(0, slash), repository: name.slice(slash + 1, colon), tag: name.slice(colon + 1) };
}

export interface BuildahStorage {
  /** containers-storage root, e.g. /var/lib/containers/storage. */
  root?: string;
  runroot?: string;
  /** e.g. vfs or overlay. */
  driver?: string;
}

export function buildah(storage: BuildahStorage, args: string[]): Promise<string> {
  const global = [
    ...(storage.root ? ['--root', storage.root] : []),
    ...(storage.runroot ? ['--runroot', storage.runroot] : []),
    ...(storage.driver ? ['--storage-driver', storage.driver] : []),
  ];
  return new Promise((resolve, reject) =>
    execFile('buildah', [...global, ...args], { maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err
        ? reject(new Error(`buildah ${args[0]} failed: ${stderr.trim().split('\n').pop() ?? err.message}`))
        : resolve(stdout.trim()),
    ),
  );
}

/** The manifest digest of a local image, or undefined when the node does not have it. */
export async function localImageDigest(storage: BuildahStorage, name: string): Promise<string | undefined> {
  try {
    return await buildah(storage, ['inspect', '--type', 'image', '--format', '{{.FromImageDigest}}', name]);
  } catch {
    return undefined;
  }
}

/**
 * Builds a checkpoint image into the node's containers-storage with buildah, as CRI-O's documentation does:
 * from scratch, the archive's content added at /, the annotations, commit. An image already there is not rebuilt.
 */
export async function buildLocalImage(
  storage: BuildahStorage,
  archive: string,
  name: string,
  annotations: Record<string, string>,
): Promise<string> {
  const existing = await localImageDigest(storage, name);
  if (existing) return existing;
  const c = await buildah(storage, ['from', 'scratch']);
  try {
    await buildah(storage, ['add', c, archive, '/']);
    await buildah(storage, [
      'config',
      ...Object.entries(annotations).map(([k, v]) => `--annotation=${k}=${v}`),
      c,
    ]);
    await buildah(storage, ['commit', '--quiet', '--format', 'oci', c, name]);
  } finally {
    await buildah(storage, ['rm', c]).catch(() => undefined);
  }
  const digest = await localImageDigest(storage, name);
  if (!digest) throw new Error(`buildah committed ${name} but cannot find it`);
  return digest;
}
