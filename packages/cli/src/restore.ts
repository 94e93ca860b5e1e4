import {
  API_VERSION,
  isRestoreFinished,
  RESTORE_KIND,
  type CheckpointRestore,
  type RestoreMode,
} from '@stateful-migration/api';

// `stateful-migration restore`, the decisions: the object it creates, what it prints while it waits, and when it
// stops waiting with which exit code. Pure; restore-command.ts does the I/O.

export interface RestoreFlags {
  to: string;
  node?: string;
  migrate: boolean;
  wait: boolean;
  /** The CheckpointRestore's name; default generated from the backup's. */
  name?: string;
  podName?: string;
  /** How long --wait waits: 90s, 10m, 1h; 0 forever. */
  timeout: string;
}

/**
 * The CheckpointRestore to create: the backup in the namespace, the target cluster (and node), the mode. The name
 * is generated (`<backup>-migrate-xxxxx`, `<backup>-restore-xxxxx`) unless given, so running the command again
 * makes a new restore instead of failing on the first one's name.
 */
export function restoreObject(backup: string, namespace: string, f: RestoreFlags): CheckpointRestore {
  const mode: RestoreMode = f.migrate ? 'Migrate' : 'Restore';
  return {
    apiVersion: API_VERSION,
    kind: RESTORE_KIND,
    metadata: {
      ...(f.name ? { name: f.name } : { generateName: `${backup.slice(0, 40)}-${mode.toLowerCase()}-` }),
      namespace,
    } as CheckpointRestore['metadata'],
    spec: {
      backupRef: { name: backup },
      targetCluster: f.to,
      ...(f.node ? { targetNode: f.node } : {}),
      mode,
      ...(f.podName ? { podName: f.podName } : {}),
    },
  };
}

/** The line to print for what the restore shows now, when its phase or message changed since `last`. */
export function progressLine(last: string | undefined, r: CheckpointRestore): string | undefined {
  const s = r.status;
  const line = `${s?.phase ?? 'Pending'}${s?.message ? `: ${s.message}` : ''}`;
  return line === last ? undefined : line;
}

export type Outcome =
  | { done: false }
  /** exitCode 0: Restored (Restore), SourceStopped (Migrate) or RolledBack (a workload migration); 1: Failed. */
  | { done: true; exitCode: 0 | 1; summary: string };

/** Whether --wait is over, and how it ends: a finished restore (isRestoreFinished) for its mode. */
export function outcome(r: CheckpointRestore): Outcome {
  const mode = r.spec.mode ?? 'Restore';
  const s = r.status;
  if (!isRestoreFinished(s?.phase, mode) || !s?.phase) return { done: false };
  const what = `CheckpointRestore ${r.metadata.namespace}/${r.metadata.name}`;
  if (s.phase === 'Failed')
    return {
      done: true,
      exitCode: 1,
      summary: `${what} failed (${s.reason ?? 'Failed'}): ${s.message ?? 'no message'}`,
    };
  return { done: true, exitCode: 0, summary: `${what} ${succeeded(r)}` };
}

/** What a restore that ended well gives: the restored pod or workload, and the state it has. */
function succeeded(r: CheckpointRestore): string {
  const mode = r.spec.mode ?? 'Restore';
  const s = r.status!;
  const w = s.workload;
  if (w && s.phase === 'RolledBack')
    return `rolled back: ${w.kind} ${r.metadata.namespace}/${w.name} runs in ${w.into} again, from the migration's checkpoints`;
  const pod = w
    ? ` ${w.kind} ${r.metadata.namespace}/${w.name} runs in ${w.into} (${(s.replicas ?? []).length} replicas, each from its own checkpoint)`
    : s.restoredPod
      ? ` ${s.restoredPod.namespace}/${s.restoredPod.name} runs in ${s.restoredPod.cluster}`
      : '';
  const guarantee =
    mode === 'Migrate'
      ? `with the state its source had when it stopped${s.checkpoint?.checkpointTime ? ` (checkpoint ${s.checkpoint.checkpointTime})` : ''}`
      : 'with the state of the backup’s checkpoint; the source keeps running';
  return `${mode === 'Migrate' ? 'migrated' : 'restored'}:${pod} ${guarantee}`;
}

/** 90s, 10m, 1h, 1h30m or plain seconds, in ms; 0 waits forever; undefined if it is none of these. */
export function parseDuration(v: string): number | undefined {
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(v);
  if (!m || !v) return undefined;
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}
