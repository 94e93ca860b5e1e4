import { API_GROUP } from './checkpoint-backup.js';

/**
 * CRI-O's `[crio.checkpoint_restore] container_level_enabled`: what a node's runtime allows. `none` refuses
 * checkpoints and restores, `checkpoint_only` (CRI-O's default since August 2026) checkpoints but refuses to create a
 * container from a checkpoint image, `checkpoint_restore` does both.
 */
export type CheckpointRestoreSetting = 'none' | 'checkpoint_only' | 'checkpoint_restore';

export const CHECKPOINT_RESTORE_SETTINGS: readonly CheckpointRestoreSetting[] = [
  'none',
  'checkpoint_only',
  'checkpoint_restore',
];

/** The one setting under which a node can run a restored pod. */
export const RESTORE_ALLOWED: CheckpointRestoreSetting = 'checkpoint_restore';

/**
 * What an agent publishes when it cannot tell its runtime's setting (no CRI-O configuration under its host root, or
 * one it cannot read): a value, rather than no label, so that a label published earlier never outlives the runtime
 * that it described, and so that "the agent looked and could not tell" differs from "no agent has looked".
 */
export const UNKNOWN_SETTING = 'unknown';

/** A value of the Node label: the runtime's setting, or `unknown`. */
export type PublishedSetting = CheckpointRestoreSetting | typeof UNKNOWN_SETTING;

/**
 * The Node label in which each node's agent publishes its runtime's setting. The restore controller reads it (and
 * the restored pod requires it by node affinity) so that a restored pod only lands where the runtime restores.
 */
export const CHECKPOINT_RESTORE_LABEL = `${API_GROUP}/checkpoint-restore`;

export const isCheckpointRestoreSetting = (v: unknown): v is CheckpointRestoreSetting =>
  typeof v === 'string' && (CHECKPOINT_RESTORE_SETTINGS as readonly string[]).includes(v);

/**
 * The Node annotation in which each node's agent publishes which decryption keys its runtime holds (CRI-O's
 * `decryption_keys_path`): comma-separated `sha256:<hex>` of each private key's public half (its SubjectPublicKeyInfo),
 * the identifier `builtImages[].encryptedFor` uses. Thumbprints only: never a key. An annotation, not a label: a
 * label value is at most 63 characters.
 */
export const DECRYPTION_KEYS_ANNOTATION = `${API_GROUP}/decryption-keys`;

/** CRI-O's default `[crio.image] decryption_keys_path`. */
export const CRIO_DECRYPTION_KEYS_PATH = '/etc/crio/keys';

/**
 * The restored pod's annotation that tells the node which archive each container's checkpoint image must hold:
 * `<container>=sha256:<hex>` pairs, comma-separated, from `builtImages[].archiveDigest` recorded at checkpoint time.
 * The node (the stand-in runtime) checks the archive it unpacks against it and refuses to restore another.
 */
export const ARCHIVE_DIGESTS_ANNOTATION = `${API_GROUP}/checkpoint-archive-digests`;

/** `app=sha256:..,db=sha256:..` <-> a map; entries that are not `name=sha256:<64 hex>` are dropped. */
export function formatArchiveDigests(m: Record<string, string>): string {
  return Object.entries(m)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([c, d]) => `${c}=${d}`)
    .join(',');
}

export function parseArchiveDigests(v: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (v ?? '').split(',')) {
    const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)=(sha256:[0-9a-f]{64})$/.exec(part.trim());
    if (m) out[m[1]!] = m[3]!;
  }
  return out;
}
