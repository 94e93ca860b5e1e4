import { createHash } from 'node:crypto';
import {
  createReadStream,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ArchiveInfo } from '@stateful-migration/archive';
import { imageManifest } from '@stateful-migration/registry';
import { CommandFailed, CommandTimeout, runCommand } from './command.js';

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
  /** The buildah binary (tests give a fake). @default buildah */
  command?: string;
  /** The skopeo binary, which writes local images into the storage without checkpointStore (tests give a fake). @default skopeo */
  skopeo?: string;
  /**
   * The checkpoint-store binary (go/checkpoint-store, ADR 0015), which writes a local image with one read of the
   * archive; unset where the node has none (resolveCheckpointStore), and skopeo does it as before.
   */
  checkpointStore?: string;
  /** How long a buildah step may take before it is killed; add and commit get more per byte (buildahTimeoutMs). */
  timeoutMs?: number;
}

/** Default deadline of one buildah step: from, config, inspect, images, rmi and rm take seconds on a healthy node. */
export const BUILDAH_TIMEOUT_MS = 120_000;

/**
 * The slowest rate at which a healthy node's storage copies an archive: add (extract) and commit (write the layer)
 * of a large checkpoint may take minutes, so they get this much more time per byte. 10 MiB/s is a slow disk.
 */
export const MIN_COPY_BYTES_PER_SECOND = 10 << 20;

/** The deadline of a buildah step that copies `bytes` (0 for the others). Pure. */
export function buildahTimeoutMs(baseMs: number, bytes = 0): number {
  return baseMs + Math.ceil(Math.max(0, bytes) / MIN_COPY_BYTES_PER_SECOND) * 1000;
}

/**
 * Runs one buildah step against the node's storage, bounded (command.ts): a hung buildah (a stuck storage lock, a
 * hung mount) is killed with its process group and fails the step with a message naming it, instead of stalling
 * the node's queue or retention. `bytes` is what the step copies; `what` says on what, for the message.
 */
export function buildah(
  storage: BuildahStorage,
  args: string[],
  o: { bytes?: number; what?: string } = {},
): Promise<string> {
  const global = [
    ...(storage.root ? ['--root', storage.root] : []),
    ...(storage.runroot ? ['--runroot', storage.runroot] : []),
    ...(storage.driver ? ['--storage-driver', storage.driver] : []),
  ];
  return runCommand(storage.command ?? 'buildah', [...global, ...args], {
    step: `buildah ${args[0]}${o.what ? ` (${o.what})` : ''}`,
    timeoutMs: buildahTimeoutMs(storage.timeoutMs ?? BUILDAH_TIMEOUT_MS, o.bytes),
    reason: 'BuildahTimeout',
  });
}

/**
 * What a failed buildah command that named an image says about that image. Pure. Only containers/storage's
 * ErrImageUnknown, which ends buildah's message when the store has no such image (inspect: "Error: importing
 * settings: <id>: image not known"; rmi: "* <id>: image not known"), says it is `absent`; a timeout is `timeout`;
 * anything else (a network backend that cannot start, a storage lock, a permission, buildah missing, output that
 * is not buildah's) is `failed` and says nothing about the image.
 */
export function buildahImageFailure(err: unknown): 'absent' | 'timeout' | 'failed' {
  if (err instanceof CommandTimeout) return 'timeout';
  if (err instanceof CommandFailed && /(^|: )image not known$/.test(err.detail.trim())) return 'absent';
  return 'failed';
}

/**
 * Where `--checkpoint-store` names the helper: a path (it contains a /) as it is, a bare name searched in PATH as
 * a shell would; undefined when no executable is there, and local images are then written with skopeo. Pure: the
 * caller says what is executable.
 */
export function resolveCheckpointStore(
  flag: string,
  path: string | undefined,
  isExecutable: (file: string) => boolean,
): string | undefined {
  if (!flag) return undefined;
  if (flag.includes('/')) return isExecutable(flag) ? flag : undefined;
  for (const dir of (path ?? '').split(':')) {
    if (!dir) continue;
    const file = join(dir, flag);
    if (isExecutable(file)) return file;
  }
  return undefined;
}

/** checkpoint-store's flags naming the node's storage, as buildah's. */
function helperStorageArgs(storage: BuildahStorage): string[] {
  return [
    ...(storage.root ? ['--root', storage.root] : []),
    ...(storage.runroot ? ['--runroot', storage.runroot] : []),
    ...(storage.driver ? ['--driver', storage.driver] : []),
  ];
}

/** The digest checkpoint-store printed; anything else is an error naming what it printed. Pure. */
export function checkpointStoreDigest(stdout: string): string {
  const d = stdout.trim();
  if (!/^sha256:[0-9a-f]{64}$/.test(d))
    throw new Error(`checkpoint-store printed no image digest (${JSON.stringify(d.slice(0, 80))})`);
  return d;
}

/**
 * The manifest digest of a local image, or undefined when the node does not have it. Only buildah's "image not
 * known" is "absent" (buildahImageFailure); a timeout, a storage lock or a buildah that cannot run throws with its
 * message, so the run fails saying why instead of building the image again beside one it could not read.
 */
export async function localImageDigest(storage: BuildahStorage, name: string): Promise<string | undefined> {
  if (storage.checkpointStore) {
    // The helper prints nothing for an image the store does not have, and fails only when it cannot tell.
    const out = await runCommand(storage.checkpointStore, [...helperStorageArgs(storage), 'digest', name], {
      step: `checkpoint-store digest (${name})`,
      timeoutMs: buildahTimeoutMs(storage.timeoutMs ?? BUILDAH_TIMEOUT_MS),
      reason: 'BuildahTimeout',
    });
    return out ? checkpointStoreDigest(out) : undefined;
  }
  try {
    return await buildah(storage, ['inspect', '--type', 'image', '--format', '{{.FromImageDigest}}', name], {
      what: name,
    });
  } catch (err) {
    if (buildahImageFailure(err) === 'absent') return undefined;
    throw err;
  }
}

/**
 * The containers-storage reference of an image in the node's storage, as containers/image spells it:
 * `containers-storage:[driver@graphroot+runroot]name`; the node's default storage without a root.
 */
export function storageReference(storage: BuildahStorage, name: string): string {
  if (!storage.root) return `containers-storage:${name}`;
  const driver = storage.driver ? `${storage.driver}@` : '';
  const runroot = storage.runroot ? `+${storage.runroot}` : '';
  return `containers-storage:[${driver}${storage.root}${runroot}]${name}`;
}

/**
 * The command that copies the OCI layout `layout` (image `checkpoint`) into the node's storage as `name`: the
 * checkpoint-store helper where the node has it (it extracts the archive once, straight into the store, and prints
 * the manifest digest), skopeo otherwise (it hashes the layer twice and writes it to a temporary file first). Pure.
 */
export function localImageCommand(
  storage: BuildahStorage,
  layout: string,
  name: string,
): { command: string; args: string[]; tool: 'checkpoint-store write' | 'skopeo copy' } {
  if (storage.checkpointStore) {
    return {
      command: storage.checkpointStore,
      args: [...helperStorageArgs(storage), 'write', layout, 'checkpoint', name],
      tool: 'checkpoint-store write',
    };
  }
  return {
    command: storage.skopeo ?? 'skopeo',
    args: [
      'copy',
      '--quiet',
      '--preserve-digests',
      `oci:${layout}:checkpoint`,
      storageReference(storage, name),
    ],
    tool: 'skopeo copy',
  };
}

/** The sha256 of a file, in one streaming read. */
async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Builds a checkpoint image into the node's containers-storage, as CRI-O restores it: one layer whose entries are the
 * archive's at /, and CRI-O's checkpoint annotation on the manifest. The archive is the layer as it is (it is an
 * uncompressed tar, as buildah's add would unpack and commit would pack again): the agent hashes it once and writes
 * an OCI layout beside it (the layer a symlink to the archive, the config and manifest those of the registry path,
 * imageManifest), and checkpoint-store (or skopeo where the node lacks it, localImageCommand) copies that layout
 * into the storage, which unpacks the layer once, keeping the manifest and its digest. An image already there is
 * not rebuilt. `archive` must be a path
 * confineArchive() accepted (the controller passes its real path).
 */
export async function buildLocalImage(
  storage: BuildahStorage,
  archive: string,
  name: string,
  annotations: Record<string, string>,
  created = new Date(),
): Promise<string> {
  const existing = await localImageDigest(storage, name);
  if (existing) return existing;
  const bytes = statSync(archive).size;
  const layerDigest = await fileDigest(archive);
  const { config, configDigest, manifest, digest } = imageManifest(layerDigest, bytes, annotations, created);
  const layout = mkdtempSync(join(tmpdir(), 'checkpoint-image-'));
  try {
    const blobs = join(layout, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    const blob = (d: string) => join(blobs, d.slice('sha256:'.length));
    symlinkSync(archive, blob(layerDigest));
    writeFileSync(blob(configDigest), config);
    writeFileSync(blob(digest), manifest);
    writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest,
            size: manifest.length,
            annotations: { 'org.opencontainers.image.ref.name': 'checkpoint' },
          },
        ],
      }),
    );
    const { command, args, tool } = localImageCommand(storage, layout, name);
    const out = await runCommand(command, args, {
      step: `${tool} (${archive} into ${name})`,
      timeoutMs: buildahTimeoutMs(storage.timeoutMs ?? BUILDAH_TIMEOUT_MS, bytes),
      reason: 'BuildahTimeout',
    });
    // The helper prints the digest of the image it wrote, or of the one it found under that name (written between
    // the check above and now): that is the image the node has.
    if (tool === 'checkpoint-store write') return checkpointStoreDigest(out);
  } finally {
    rmSync(layout, { recursive: true, force: true });
  }
  return digest;
}
