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
