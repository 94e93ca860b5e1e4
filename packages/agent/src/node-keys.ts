import { isAbsolute, join, relative } from 'node:path';
import { CRIO_DECRYPTION_KEYS_PATH, DECRYPTION_KEYS_ANNOTATION } from '@stateful-migration/api';
import { readDecryptionKeysDir } from '@stateful-migration/ocicrypt';
import { readCrioConfig, readToml } from './runtime-setting.js';

/**
 * Which private keys the node's runtime can decrypt checkpoint images with, published as thumbprints so the restore
 * controller can refuse a restore to a node that could not open its images before anything is stopped.
 *
 * CRI-O takes every file under `[crio.image] decryption_keys_path` (default /etc/crio/keys) as a private key. The
 * agent reads the same files (the DaemonSet mounts the host's /etc/crio read-only under --host-root), derives each
 * key's public half in memory and publishes only `sha256:<hex>` of its SubjectPublicKeyInfo, the identifier
 * `builtImages[].encryptedFor` uses; the keys themselves never leave the node, and are never logged.
 */

/** The host directory the agent's DaemonSet mounts (read-only) under --host-root. */
const CRIO_DIR = '/etc/crio';
const isUnder = (path: string, dir: string): boolean => {
  const r = relative(dir, path);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
};

/** `[crio.image] decryption_keys_path` of the merged configuration (a later file wins), else CRI-O's default. */
export function crioDecryptionKeysPath(files: { name: string; text: string }[]): string {
  let path = CRIO_DECRYPTION_KEYS_PATH;
  for (const f of files) {
    const v = readToml(f.text).get(['crio', 'image', 'decryption_keys_path'].join('\0'))?.value;
    if (v?.kind === 'string' && isAbsolute(v.value)) path = v.value;
  }
  return path;
}

/**
 * The merge patch that makes the Node's annotation list `fingerprints` (sorted, comma-separated; an empty value for
 * a node with no keys, so "no keys" differs from "no agent looked"), or undefined when it already does.
 */
export function keysAnnotationPatch(
  current: string | undefined,
  fingerprints: string[],
): { metadata: { annotations: Record<string, string> } } | undefined {
  const desired = [...fingerprints].sort().join(',');
  return current === desired
    ? undefined
    : { metadata: { annotations: { [DECRYPTION_KEYS_ANNOTATION]: desired } } };
}

export interface NodeKeys {
  /** The keys directory as the node knows it (e.g. /etc/crio/keys). */
  path: string;
  fingerprints: string[];
  /** Files under it that are not usable private keys: CRI-O would fail to decrypt with them; named in a warning. */
  unusable: { file: string; why: string }[];
}

/** Reads the node's decryption keys under `hostRoot`; throws when the directory cannot be read (a symbolic link). */
export async function readNodeDecryptionKeys(hostRoot: string): Promise<NodeKeys> {
  const path = crioDecryptionKeysPath(await readCrioConfig(hostRoot));
  // Only the host's /etc/crio is mounted under hostRoot: elsewhere, the directory looks missing here, which reads as
  // "no keys" without a word while CRI-O decrypts with the keys there; the error is the agent's warning saying why
  // its node publishes none (and encrypted restores to it are refused).
  if (!isUnder(path, CRIO_DIR))
    throw new Error(
      `CRI-O's decryption_keys_path ${path} is outside ${CRIO_DIR}, the only host directory the agent mounts, so ` +
        `it cannot tell which keys CRI-O holds: keep them under ${CRIO_DIR} (e.g. ${CRIO_DECRYPTION_KEYS_PATH})`,
    );
  const dir = await readDecryptionKeysDir(join(hostRoot, path));
  const onNode = (f: string) => join(path, f.slice(join(hostRoot, path).length));
  return {
    path,
    fingerprints: dir.fingerprints,
    unusable: dir.unusable.map((u) => ({ file: onNode(u.file), why: u.why })),
  };
}
